"""Prediction: every fold's model on the test images, with test-time augmentation, averaged.

TTA views follow the training augmentation: a mirror view only when training
mirrored images (a flipped digit is another digit), then centre zooms.
Probabilities are averaged over views and folds (arithmetic mean), and test
images that cannot be decoded get the training class prior.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from kagglekit.augment import get_augmentation
from kagglekit.catalog import Catalog
from kagglekit.competition import Competition
from kagglekit.errors import KagglekitError
from kagglekit.models import output_probabilities

log = logging.getLogger("kagglekit")


def tta_views(augment: str, n: int) -> list[tuple[bool, float]]:
    """The first N test-time views as (mirror, zoom-in factor); the plain image is always first."""
    mirror = get_augmentation(augment).hflip
    views = [(False, 1.0)]
    if mirror:
        views.append((True, 1.0))
    for zoom in (0.9, 0.8):
        views.append((False, zoom))
        if mirror:
            views.append((True, zoom))
    return views[:n]


def _view(images, mirror: bool, zoom: float):
    import tensorflow as tf

    size = images.shape[1]
    if zoom < 1.0:
        images = tf.image.resize(tf.image.central_crop(images, zoom), [size, size])
    if mirror:
        images = tf.reverse(images, axis=[2])
    return images


def predict_paths(model, paths, image_size: int, batch_size: int, n_classes: int, views) -> np.ndarray:
    """Class probabilities (n, n_classes) of one model on PATHS, averaged over VIEWS."""
    import tensorflow as tf

    from kagglekit.pipeline import inference_dataset

    if len(paths) == 0:
        return np.zeros((0, n_classes))
    decoded = inference_dataset(paths, image_size, batch_size).cache()
    total = np.zeros((len(paths), n_classes))
    for mirror, zoom in views:
        ds = decoded.map(lambda x, m=mirror, z=zoom: _view(x, m, z), num_parallel_calls=tf.data.AUTOTUNE)
        total += output_probabilities(model.predict(ds, verbose=0), n_classes)
    return total / len(views)


def completed_folds(run_dir: Path) -> list[int]:
    """Folds of RUN_DIR whose training finished (result.json written last, atomically)."""
    return sorted(
        int(p.parent.name.split("_")[1]) for p in Path(run_dir).glob("fold_*/result.json")
    )


def load_fold_model(run_dir: Path, fold: int):
    """The best checkpoint of one fold, with a clear error when it is missing or damaged."""
    import keras

    path = Path(run_dir) / f"fold_{fold}" / "best.keras"
    try:
        return keras.models.load_model(path, compile=False)
    except (OSError, ValueError) as exc:
        raise KagglekitError(
            f"model {path} cannot be loaded ({str(exc).splitlines()[0][:120]}); retrain the fold with 'kagglekit train'"
        ) from None


def predict_test(run_dir: Path, catalog: Catalog, tta: int | None = None, batch_size: int | None = None):
    """Ensemble the completed folds of RUN_DIR on the catalog's test images.

    Returns (ids, probabilities (n, n_classes), folds used).
    """
    from kagglekit.crossval import load_run_config

    comp: Competition = catalog.competition
    config = load_run_config(run_dir)
    folds = completed_folds(run_dir)
    if not folds:
        raise KagglekitError(f"run {run_dir} has no finished fold; run 'kagglekit train' first")
    views = tta_views(config.augment, tta or config.tta)
    test = catalog.test
    readable = test[test["readable"]]
    proba = np.zeros((len(readable), comp.n_classes))
    for k, fold in enumerate(folds, 1):
        log.info("predicting with fold %d (%d/%d), %d test-time views", fold, k, len(folds), len(views))
        model = load_fold_model(run_dir, fold)
        proba += predict_paths(model, list(readable["path"]), config.image_size, batch_size or config.batch_size,
                               comp.n_classes, views)
    proba /= len(folds)
    full = np.tile(catalog.class_prior, (len(test), 1))
    full[test["readable"].to_numpy()] = proba
    return list(test["id"]), full, folds


def write_run_submission(run_dir: Path, catalog: Catalog, data_dir: Path, out: Path | None, tta: int | None = None) -> dict:
    """Predict, lay out, check and atomically write the submission; returns a summary."""
    from kagglekit.submission import build_submission, check_submission, read_sample, write_submission

    comp = catalog.competition
    ids, proba, folds = predict_test(run_dir, catalog, tta)
    sample = read_sample(comp, data_dir)
    df = build_submission(comp, ids, proba, sample)
    check_submission(comp, df, sample)
    path = write_submission(df, out or Path(run_dir) / "submission.csv")
    return {"path": str(path), "rows": len(df), "folds": folds, "prior_rows": int((~catalog.test["readable"]).sum())}
