"""Prediction: every finished fold's model on the test images, with test-time augmentation, averaged.

Probabilities are averaged over views and folds (arithmetic mean); test
images that cannot be decoded get the training class prior. Laying the
result out as a submission is the next stage's work (submission.py).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from kagglekit.catalog import Catalog
from kagglekit.errors import KagglekitError
from kagglekit.inference import predict_paths, tta_views
from kagglekit.run_folder import RunFolder, load_fold_model

log = logging.getLogger("kagglekit")


def predict_test(run_dir: Path, catalog: Catalog, tta: int | None = None, batch_size: int | None = None):
    """Ensemble the finished folds of RUN_DIR on the catalog's test images.

    Returns (ids, probabilities (n, n_classes), folds used).
    """
    comp = catalog.competition
    run = RunFolder(run_dir)
    config = run.read_config()
    folds = run.finished_folds()
    if not folds:
        raise KagglekitError(f"run {run.path} has no finished fold; run 'kagglekit train' first")
    views = tta_views(config.augment, tta or config.tta)
    test = catalog.test
    readable = test[test["readable"]]
    proba = np.zeros((len(readable), comp.n_classes))
    for k, fold in enumerate(folds, 1):
        log.info("predicting with fold %d (%d/%d), %d test-time views", fold, k, len(folds), len(views))
        model = load_fold_model(run, fold)
        proba += predict_paths(model, list(readable["path"]), config.image_size, batch_size or config.batch_size,
                               comp.n_classes, views)
    proba /= len(folds)
    full = np.tile(catalog.class_prior, (len(test), 1))
    full[test["readable"].to_numpy()] = proba
    return list(test["id"]), full, folds
