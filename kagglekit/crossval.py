"""Cross-validation: stratified folds, one fit per fold, OOF predictions and scores in a run folder.

A run folder (default ``runs/<slug>/<model>-<size>px-<augment>-<folds>f-s<seed>``,
so that rerunning the same command resumes the same run) holds:
  config.json    the resolved training settings
  run.json       competition, data folder, library versions, times
  folds.csv      the fold of every training id
  fold_K/        one folder per fold (see training.py)
  oof.csv        out-of-fold predictions of the finished folds
  scores.json    the OOF score per fold and overall, with the competition's metric
"""

from __future__ import annotations

import dataclasses
import json
import logging
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from kagglekit.catalog import Catalog
from kagglekit.config import MODEL_SETTINGS, TrainConfig, config_from_json
from kagglekit.errors import KagglekitError
from kagglekit.runfiles import write_json, write_text

log = logging.getLogger("kagglekit")


def default_run_dir(slug: str, config: TrainConfig) -> Path:
    """The run folder named after the settings that decide what is learnt."""
    name = f"{config.model}-{config.image_size}px-{config.augment}-{config.folds}f-s{config.seed}"
    if config.sample:
        name += f"-n{config.sample}"
    return Path("runs") / slug / name


def latest_run_dir(slug: str) -> Path:
    """The most recently trained run of a competition that has a finished fold."""
    runs = [p.parent.parent for p in Path("runs", slug).glob("*/fold_*/result.json")]
    if not runs:
        raise KagglekitError(f"no finished run of {slug} under runs/{slug}; run 'kagglekit train' or pass --run-dir")
    return max(set(runs), key=lambda p: max(f.stat().st_mtime for f in p.glob("fold_*/result.json")))


def load_run_config(run_dir: Path) -> TrainConfig:
    """The training settings saved in a run folder."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise KagglekitError(f"{run_dir} is not a kagglekit run folder (no config.json); pass the folder 'train' wrote")
    return config_from_json(json.loads(path.read_text()))


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


def assign_folds(train: pd.DataFrame, config: TrainConfig) -> pd.DataFrame:
    """Training ids with their fold, stratified by class (after --sample, if given)."""
    from sklearn.model_selection import StratifiedKFold, train_test_split

    table = train[["id", "label"]]
    if config.sample and config.sample < len(table):
        table, _ = train_test_split(table, train_size=config.sample, stratify=table["label"], random_state=config.seed)
    counts = np.bincount(table["label"])
    smallest = int(counts[counts > 0].min())
    if smallest < config.folds:
        raise KagglekitError(
            f"a class has only {smallest} training images, fewer than --folds {config.folds}; use fewer folds or more data"
        )
    folds = np.empty(len(table), dtype=int)
    splitter = StratifiedKFold(n_splits=config.folds, shuffle=True, random_state=config.seed)
    for k, (_, val) in enumerate(splitter.split(np.zeros(len(table)), table["label"])):
        folds[val] = k
    return pd.DataFrame({"id": table["id"].to_numpy(), "fold": folds}).sort_values("id", kind="stable").reset_index(drop=True)


def prepare_run_dir(run_dir: Path, catalog: Catalog, config: TrainConfig, data_dir: Path) -> pd.DataFrame:
    """Create or reopen a run folder; refuse to mix settings; return the fold assignment."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    config_path = run_dir / "config.json"
    if config_path.is_file():
        saved = load_run_config(run_dir)
        for key in MODEL_SETTINGS:
            if getattr(saved, key) != getattr(config, key):
                raise KagglekitError(
                    f"run folder {run_dir} was trained with {key}={getattr(saved, key)}, not {getattr(config, key)}; "
                    "pass a new --run-dir or the same settings"
                )
    write_json(config_path, dataclasses.asdict(config))
    folds_path = run_dir / "folds.csv"
    folds = assign_folds(catalog.train, config)
    if folds_path.is_file():
        saved = pd.read_csv(folds_path, dtype={"id": str})
        if not saved.equals(folds):
            raise KagglekitError(
                f"the training images changed since {run_dir} was started (fold assignment differs); pass a new --run-dir"
            )
    else:  # written whole or not at all: a half-written assignment would refuse every later resume
        write_text(folds_path, folds.to_csv(index=False))
    info = {
        "competition": catalog.competition.slug,
        "competition_file": str(catalog.competition.source),
        "data_dir": str(Path(data_dir).resolve()),
        "versions": library_versions(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "n_train": len(folds),
        "skipped_train": [Path(p).name for p in catalog.skipped_train],
    }
    write_json(run_dir / "run.json", info)
    return folds


def collect_oof(run_dir: Path, catalog: Catalog) -> dict:
    """Gather the finished folds' OOF predictions into oof.csv and score them into scores.json."""
    from kagglekit.metrics import score

    comp = catalog.competition
    run_dir = Path(run_dir)
    parts = [pd.read_csv(p, dtype={"id": str}) for p in sorted(run_dir.glob("fold_*/oof.csv"))
             if (p.parent / "result.json").is_file()]
    if not parts:
        return {}
    oof = pd.concat(parts, ignore_index=True).sort_values(["fold", "id"]).reset_index(drop=True)
    write_text(run_dir / "oof.csv", oof.to_csv(index=False))
    proba = oof[[f"p_{c}" for c in comp.labels.classes]].to_numpy()
    results = [json.loads(p.read_text()) for p in sorted(run_dir.glob("fold_*/result.json"))]
    scores = {
        "metric": comp.metric,
        "oof_score": score(comp.metric, oof["label"], proba),
        "oof_accuracy": score("accuracy", oof["label"], proba),
        "folds": {str(r["fold"]): r["score"] for r in results},
        "n_oof": len(oof),
        "train_seconds": round(sum(r["seconds"] for r in results), 1),
    }
    write_json(run_dir / "scores.json", scores)
    return scores


def train_folds(catalog: Catalog, config: TrainConfig, data_dir: Path, run_dir: Path | None = None,
                started: float | None = None) -> tuple[Path, dict]:
    """Train every fold (or only config.fold), skipping finished ones; return the run folder and its scores.

    With config.budget, the run ends by STARTED (default: now) + budget with the folds that fit.
    """
    from kagglekit.budget import fold_deadline
    from kagglekit.training import fit_fold

    comp = catalog.competition
    run_dir = Path(run_dir or default_run_dir(comp.slug, config))
    folds = prepare_run_dir(run_dir, catalog, config, data_dir)
    train = catalog.train.merge(folds, on="id")
    todo = [config.fold] if config.fold is not None else list(range(config.folds))
    deadline = (started or time.time()) + config.budget if config.budget else None
    trained = []
    for k in todo:
        fold_dir = run_dir / f"fold_{k}"
        if (fold_dir / "result.json").is_file():
            log.info("fold %d/%d already trained; skipping (delete %s to retrain)", k + 1, config.folds, fold_dir)
            continue
        this_deadline = None
        if deadline:  # share what is left equally among the folds still to train
            left = [j for j in todo if j >= k and not (run_dir / f"fold_{j}" / "result.json").is_file()]
            this_deadline = fold_deadline(deadline, len(left))
            if trained and not _fold_fits(trained[-1], this_deadline - time.time()):
                log.warning("time budget: %s left, too little for fold %d (the last fold took %ss); "
                            "ending with the %d finished folds", _seconds(deadline - time.time()), k + 1,
                            trained[-1]["seconds"], len(trained))
                break
        log.info("fold %d/%d: %d training, %d validation images", k + 1, config.folds,
                 int((train["fold"] != k).sum()), int((train["fold"] == k).sum()))
        result = fit_fold(comp, config, train[train["fold"] != k], train[train["fold"] == k], fold_dir, k, this_deadline)
        trained.append(result)
        log.info("fold %d/%d: %s %.4f, accuracy %.4f (best epoch %s)", k + 1, config.folds,
                 comp.metric, result["score"], result["accuracy"], result["best_epoch"])
    return run_dir, collect_oof(run_dir, catalog)


def _fold_fits(last: dict, seconds_left: float) -> bool:
    """Whether a fold gets time for at least two epochs, judged by the fold trained before it."""
    epochs = max(last.get("epochs_run") or 1, 1)
    per_epoch = last["seconds"] / epochs
    return seconds_left >= 2 * per_epoch


def _seconds(seconds: float) -> str:
    return f"{max(seconds, 0):.0f}s"
