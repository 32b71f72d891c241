"""Ensembles of runs: the folds of several run folders merged into one that predict and submit accept.

Folds trained apart (one Kaggle kernel per fold, or local runs of --fold K)
belong together only when they were trained with the same settings (the
ones in config.MODEL_SETTINGS decide what is learnt) and the same fold
assignment; each fold may come from one run only. The merged folder has the
layout of a local run: config.json, run.json, folds.csv, fold_K/, oof.csv,
scores.json.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path

import pandas as pd

from kagglekit.archive import atomic_folder
from kagglekit.config import MODEL_SETTINGS
from kagglekit.errors import KagglekitError


def check_mergeable(run_dirs: list[Path]) -> dict[int, Path]:
    """Fold -> the run that holds it, after refusing different settings, fold assignments or overlaps."""
    from kagglekit.crossval import load_run_config
    from kagglekit.predict import completed_folds

    if not run_dirs:
        raise KagglekitError("give at least one run folder to merge")
    first = load_run_config(run_dirs[0])
    first_folds = pd.read_csv(Path(run_dirs[0]) / "folds.csv", dtype={"id": str})
    owner: dict[int, Path] = {}
    for run in run_dirs:
        config = load_run_config(run)
        for key in MODEL_SETTINGS:
            if getattr(config, key) != getattr(first, key):
                raise KagglekitError(f"{run} was trained with {key}={getattr(config, key)} but {run_dirs[0]} with "
                                     f"{key}={getattr(first, key)}; only runs with the same settings can be merged")
        if not pd.read_csv(Path(run) / "folds.csv", dtype={"id": str}).equals(first_folds):
            raise KagglekitError(f"{run} assigns the training images to folds differently from {run_dirs[0]}; "
                                 "were they trained on the same data?")
        folds = completed_folds(run)
        if not folds:
            raise KagglekitError(f"{run} has no finished fold; wait for its kernel or train it first")
        for k in folds:
            if k in owner:
                raise KagglekitError(f"fold {k} is in both {owner[k]} and {run}; merge runs with different folds")
            owner[k] = Path(run)
    return owner


def merge_runs(run_dirs: list[Path], out: Path) -> tuple[Path, dict]:
    """Copy the folds of RUN_DIRS into OUT as one run; return OUT and its OOF scores."""
    from kagglekit.catalog import Catalog
    from kagglekit.competition import load_competition
    from kagglekit.crossval import collect_oof, load_run_config
    from kagglekit.runfiles import write_json

    run_dirs = [Path(r) for r in run_dirs]
    owner = check_mergeable(run_dirs)
    out = Path(out)
    if out.resolve() in {r.resolve() for r in run_dirs}:
        raise KagglekitError(f"--out {out} is one of the runs being merged; give a new folder")
    if any(out.glob("fold_*")):
        raise KagglekitError(f"{out} already holds folds; give an empty or new folder to --out")
    out.mkdir(parents=True, exist_ok=True)
    first = run_dirs[0]
    write_json(out / "config.json", dataclasses.asdict(dataclasses.replace(load_run_config(first), fold=None)))
    shutil.copy2(first / "folds.csv", out / "folds.csv")
    for k, run in sorted(owner.items()):  # each fold appears only once its copy is complete
        with atomic_folder(out / f"fold_{k}") as partial:
            shutil.copytree(run / f"fold_{k}", partial, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("backup", "*.partial*"))
    info = json.loads((first / "run.json").read_text())
    info.update(merged_from={str(k): str(run) for k, run in sorted(owner.items())},
                started=time.strftime("%Y-%m-%d %H:%M:%S"))
    write_json(out / "run.json", info)
    comp = load_competition(info["competition_file"])
    scores = collect_oof(out, Catalog(comp, pd.DataFrame(), pd.DataFrame()))
    return out, scores
