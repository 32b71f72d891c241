"""Prediction: every finished fold's model on the test images, with test-time augmentation, averaged.

Probabilities are averaged over views and folds (arithmetic mean); test
images that cannot be decoded get the training class prior. Laying the
result out as a submission is the next stage's work (submission.py).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from kagglekit.core.errors import KagglekitError
from kagglekit.data.catalog import Catalog
from kagglekit.models.inference import predict_paths, tta_views
from kagglekit.runs.folder import RunFolder, load_fold_model

log = logging.getLogger("kagglekit")


# An inference kernel plans its test-time views to use at most this share of the time it has left: a code
# competition's hidden test set may be larger than the public one it was tried on, and a rerun past the
# limit scores nothing.
SHARE_OF_TIME_LEFT = 0.5


def plan_views(seconds_per_pass: float, folds: int, time_left: float, max_views: int,
               share: float = SHARE_OF_TIME_LEFT) -> int:
    """The most test-time views (1 to MAX_VIEWS) whose passes over the test images fit SHARE of TIME_LEFT.

    One pass (one fold, one view) took SECONDS_PER_PASS and is done; N views
    take FOLDS * N passes in all. One view is the least a submission needs,
    so 1 is returned even when it does not fit.
    """
    if seconds_per_pass <= 0:
        return max(1, max_views)
    fit = int((share * time_left / seconds_per_pass + 1) // max(folds, 1))
    return max(1, min(max_views, fit))


def predict_test(run_dir: Path, catalog: Catalog, tta: int | None = None, batch_size: int | None = None,
                 time_left: float | None = None, clock=time.monotonic):
    """Ensemble the finished folds of RUN_DIR on the catalog's test images, each with TTA test-time views
    (default: the run's setting); test images that cannot be decoded get the training class prior.

    With TIME_LEFT (seconds), TTA is the most views to use: as many as plan_views says fit, judged by a
    timed first pass (an inference kernel's way: a code competition's hidden test set may be larger).
    Returns (ids, probabilities (n, n_classes), folds used, the plan: views, seconds per 1,000 images ...).
    """
    comp, run = catalog.competition, RunFolder(run_dir)
    config, folds = run.read_config(), run.finished_folds()
    if not folds:
        raise KagglekitError(f"run {run.path} has no finished fold; run 'kagglekit train' first")
    deadline = None if time_left is None else clock() + time_left
    candidates = tta_views(config.augment, max(1, tta or config.tta), config.tta_shift)
    test = catalog.test
    paths = list(test.loc[test["readable"], "path"])
    size, batch = config.image_size, batch_size or config.batch_size

    model = load_fold_model(run, folds[0])  # the first load also starts TensorFlow: not part of the rate per image
    started = clock()
    first = predict_paths(model, paths, size, batch, comp.n_classes, candidates[:1])
    per_pass = clock() - started
    views = candidates if deadline is None else \
        candidates[:plan_views(per_pass, len(folds), deadline - clock(), len(candidates))]
    per_1000 = 1000 * per_pass / max(len(paths), 1)
    if deadline is not None:
        log.info("one pass (one fold, one view) over %d test images took %.1fs: %.2fs per 1,000 images; "
                 "%d folds x %d test-time views planned within %.0fs", len(paths), per_pass, per_1000,
                 len(folds), len(views), deadline - clock())
    log.info("predicting with %d folds, %d test-time views", len(folds), len(views))
    proba = first
    if len(views) > 1:  # the plain view is done: average it with the others
        rest = predict_paths(model, paths, size, batch, comp.n_classes, views[1:])
        proba = (first + (len(views) - 1) * rest) / len(views)
    for fold in folds[1:]:
        proba = proba + predict_paths(load_fold_model(run, fold), paths, size, batch, comp.n_classes, views)
    proba = proba / len(folds)
    full = np.tile(catalog.class_prior, (len(test), 1))
    full[test["readable"].to_numpy()] = proba
    seconds = clock() - started
    plan = {"views": len(views), "folds": len(folds), "images": len(paths), "seconds": round(seconds, 2),
            "seconds_per_1000_images_per_pass": round(per_1000, 3),
            "seconds_per_1000_images": round(1000 * seconds / max(len(paths), 1), 3)}
    log.info("predicted %d test images in %.1fs: %.2fs per 1,000 images (%d folds x %d views)", len(paths), seconds,
             plan["seconds_per_1000_images"], len(folds), len(views))
    return list(test["id"]), full, folds, plan
