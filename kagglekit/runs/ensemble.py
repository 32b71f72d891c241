"""Ensembles of runs: the folds of several run folders merged into one that predict and submit accept.

Folds trained apart (one Kaggle kernel per fold, or local runs of --fold K)
belong together only when they were trained with the same settings (all but
config.RESUMABLE) and the same fold assignment; each fold may come from one
run only. The merged folder is a run folder like any other (runs/folder.py).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from kagglekit.core.atomic import write_text
from kagglekit.core.config import changed_settings
from kagglekit.core.errors import KagglekitError
from kagglekit.runs.folder import RunFolder, copy_fold
from kagglekit.runs.records import RUN_FIX, save_config


def check_mergeable(run_dirs: list[Path]) -> dict[int, RunFolder]:
    """Fold -> the run that holds it, after refusing different settings, fold assignments or overlaps."""
    if not run_dirs:
        raise KagglekitError("give at least one run folder to merge")
    runs = [RunFolder(r) for r in run_dirs]
    first = runs[0].read_config()
    first_folds = runs[0].read_folds()
    owner: dict[int, RunFolder] = {}
    for run in runs:
        changes = changed_settings(first, run.read_config())
        if changes:
            name, theirs, ours = changes[0]
            raise KagglekitError(f"{run.path} was trained with {name}={ours!r} but {runs[0].path} with "
                                 f"{name}={theirs!r}; only runs with the same settings can be merged")
        if not run.read_folds().equals(first_folds):
            raise KagglekitError(f"{run.path} assigns the training images to folds differently from {runs[0].path}; "
                                 "were they trained on the same data?")
        folds = run.finished_folds()
        if not folds:
            raise KagglekitError(f"{run.path} has no finished fold; wait for its kernel or train it first")
        for k in folds:
            if k in owner:
                raise KagglekitError(f"fold {k} is in both {owner[k].path} and {run.path}; merge runs with different folds")
            owner[k] = run
    return owner


def merge_runs(run_dirs: list[Path], out: Path) -> tuple[Path, dict]:
    """Copy the folds of RUN_DIRS into OUT as one run; return OUT and its OOF scores."""
    from kagglekit.competition.definition import load_competition
    from kagglekit.runs.oof import collect_oof

    runs = [RunFolder(r) for r in run_dirs]
    owner = check_mergeable([r.path for r in runs])
    merged = RunFolder(out)
    if merged.path.resolve() in {r.path.resolve() for r in runs}:
        raise KagglekitError(f"--out {out} is one of the runs being merged; give a new folder")
    if merged.folds():
        raise KagglekitError(f"{out} already holds folds; give an empty or new folder to --out")
    first = runs[0]
    info = first.read_record()
    if not info.competition_file:
        raise KagglekitError(f"{first.record}: competition_file is missing; {RUN_FIX}")
    merged.path.mkdir(parents=True, exist_ok=True)
    save_config(merged.config, dataclasses.replace(first.read_config(), fold=None))
    write_text(merged.folds_table, first.folds_table.read_text())
    for k, run in sorted(owner.items()):  # each fold appears only once its copy is complete
        copy_fold(run.fold(k), merged, with_checkpoint=False)
    info = info.replace(merged_from={str(k): str(run.path) for k, run in sorted(owner.items())},
                        started=time.strftime("%Y-%m-%d %H:%M:%S"))
    info.save(merged.record)
    comp = load_competition(info.competition_file)
    scores = collect_oof(merged.path, comp)
    return merged.path, scores


def fold_settings(run_dir: Path) -> dict[int, dict]:
    """Fold -> the settings it was trained with (from its result), for showing what an ensemble holds."""
    return {r.fold: r.settings for r in RunFolder(run_dir).results()}
