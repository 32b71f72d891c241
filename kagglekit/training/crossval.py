"""Cross-validation: stratified folds, one fit per fold, OOF predictions and scores in a run folder.

The run folder's layout and its resume rules belong to kagglekit.runs.folder;
this stage decides the folds, trains the ones still missing (sharing a
--budget among them) and gathers their out-of-fold predictions into scores.
"""

from __future__ import annotations

import logging
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from kagglekit.core.config import TrainConfig, images_per_class
from kagglekit.core.durations import format_duration
from kagglekit.core.errors import KagglekitError
from kagglekit.core.locks import hold
from kagglekit.data.catalog import Catalog
from kagglekit.runs.folder import RunFolder, default_run_dir
from kagglekit.runs.records import FoldResult, RunRecord

log = logging.getLogger("kagglekit")


def library_versions() -> dict:
    """Versions of what decides the numbers, saved with every run."""
    import importlib.metadata as md

    versions = {"python": platform.python_version()}
    for name in ("kagglekit", "tensorflow", "keras", "numpy", "pandas", "scikit-learn", "pillow"):
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = None
    if versions.get("tensorflow") is None:  # e.g. tensorflow-cpu, or Kaggle's own build
        import tensorflow as tf

        versions["tensorflow"] = tf.__version__
    return versions


HOLDOUT = 0.2  # --folds 1: the share of the training images that validates the one model


def assign_folds(train: pd.DataFrame, config: TrainConfig) -> pd.DataFrame:
    """Training ids with their fold, stratified by class (after --sample, if given).

    With --folds 1 the one model trains on 80% and is validated on a stratified 20% holdout (fold 0);
    the ids it only trains on have fold -1."""
    from sklearn.model_selection import StratifiedKFold, train_test_split

    table = train[["id", "label"]]
    needed = images_per_class(config)
    if config.sample and config.sample < len(table):
        table, _ = train_test_split(table, train_size=config.sample, stratify=table["label"], random_state=config.seed)
    counts = np.bincount(table["label"])
    smallest = int(counts[counts > 0].min())
    if smallest < needed:
        advice = "use fewer folds or more data" if config.folds > 1 else "a holdout needs 2 per class; add images"
        raise KagglekitError(
            f"a class has only {smallest} training images, fewer than --folds {config.folds} needs; {advice}"
        )
    folds = np.empty(len(table), dtype=int)
    if config.folds == 1:  # one model: a stratified holdout of HOLDOUT validates it; -1 = always trained on
        folds[:] = -1
        _, val = train_test_split(np.arange(len(table)), test_size=HOLDOUT, stratify=table["label"],
                                  random_state=config.seed)
        folds[val] = 0
    else:
        splitter = StratifiedKFold(n_splits=config.folds, shuffle=True, random_state=config.seed)
        for k, (_, val) in enumerate(splitter.split(np.zeros(len(table)), table["label"])):
            folds[val] = k
    return pd.DataFrame({"id": table["id"].to_numpy(), "fold": folds}).sort_values("id", kind="stable").reset_index(drop=True)


def run_record(catalog: Catalog, n_train: int, data_dir: Path) -> RunRecord:
    """What run.json says about where a run's data came from and what computed it."""
    return RunRecord(competition=catalog.competition.slug, competition_file=str(catalog.competition.source),
                     data_dir=str(Path(data_dir).resolve()), versions=library_versions(), n_train=n_train,
                     skipped_train=[Path(p).name for p in catalog.skipped_train])


def train_folds(catalog: Catalog, config: TrainConfig, data_dir: Path, run_dir: Path | None = None,
                started: float | None = None, callbacks: tuple = (), precision=None) -> tuple[Path, dict]:
    """Train every fold (or only config.fold), skipping finished ones; return the run folder and its scores.

    With config.budget, the run ends by STARTED (default: now) + budget with the folds that fit.
    CALLBACKS: Keras callbacks of the user's, given to every fold's fit. PRECISION (a devices.Precision):
    the one the recipe plan measured, recorded as the run's; by default it is chosen before the first fold.
    """
    from kagglekit.runs.oof import collect_oof
    from kagglekit.training.budget import fold_deadline
    from kagglekit.training.fold import fit_fold, run_precision

    comp = catalog.competition
    run = RunFolder(run_dir or default_run_dir(comp.slug, config))
    folds = assign_folds(catalog.train, config)
    run.prepare(config, folds, run_record(catalog, len(folds), data_dir))
    train = catalog.train.merge(folds, on="id")
    todo = [config.fold] if config.fold is not None else list(range(config.folds))
    deadline = (started or time.time()) + config.budget if config.budget else None
    trained = []
    if precision is not None and run.read_precision() is None:
        run.record_precision(precision.to_json())
    for k in todo:
        if run.fold(k).done:
            log.info("fold %d/%d already trained; skipping (delete %s to retrain)", k + 1, config.folds, run.fold(k).path)
            continue
        this_deadline = None
        if deadline:  # share what is left equally among the folds still to train
            left = [j for j in todo if j >= k and not run.fold(j).done]
            this_deadline = fold_deadline(deadline, len(left))
            if trained and not _fold_fits(trained[-1], this_deadline - time.time()):
                log.warning("time budget: %s left, too little for fold %d (the last fold took %ss); "
                            "ending with the %d finished folds", format_duration(deadline - time.time()), k + 1,
                            trained[-1].seconds, len(trained))
                break
        log.info("fold %d/%d: %d training, %d validation images", k + 1, config.folds,
                 int((train["fold"] != k).sum()), int((train["fold"] == k).sum()))
        with hold(run.fold(k).lock, f"fold {k} of {run.path}", hint="another 'train' is training it: wait for it "
                  "to finish (its result is then kept), or stop it and run again"):
            if run.fold(k).done:  # finished by another process between the check above and the lock
                continue
            if precision is None:  # chosen once per run (measured on the first fold's batches), recorded for resumes
                precision = run_precision(comp, config, train[train["fold"] != k], run)
            result = fit_fold(comp, config, train[train["fold"] != k], train[train["fold"] == k], run, k,
                              this_deadline, precision, callbacks)
        trained.append(result)
        log.info("fold %d/%d: %s %.4f, accuracy %.4f (best epoch %s)", k + 1, config.folds,
                 comp.metric, result.score, result.accuracy, result.best_epoch)
    scores = collect_oof(run.path, comp)
    if deadline and trained:
        log.info("%s", budget_summary(config.budget, deadline - config.budget, trained))
    return run.path, scores


def budget_summary(budget: float, started: float, trained: list[FoldResult], now: float | None = None) -> str:
    """One line on how --budget was spent: time per fold and epochs, and what was left unused."""
    now = time.time() if now is None else now
    folds = ", ".join(f"fold {r.fold} {r.epochs_run} epochs in {format_duration(r.seconds)}" for r in trained)
    used = now - started
    return (f"time budget {format_duration(budget)}: {format_duration(used)} used ({folds}); "
            f"{format_duration(max(budget - used, 0))} left unused")


def _fold_fits(last: FoldResult, seconds_left: float) -> bool:
    """Whether a fold gets time for at least two epochs, judged by the fold trained before it."""
    epochs = max(last.epochs_run or 1, 1)
    per_epoch = last.seconds / epochs
    return seconds_left >= 2 * per_epoch


