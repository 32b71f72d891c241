"""What a kagglekit kernel does once Kaggle runs it: its steps, which the built script or notebook calls.

Inside Kaggle the competition is mounted read-only at /kaggle/input/<slug>/
(archives as published) and /kaggle/working is kept as the version's output.
The kernel makes /kaggle/working the run folder, so what `kagglekit kernel
output` downloads is a run folder `predict`, `validate` and `submit` accept:
  1. copy the finished folds (and a killed fold's checkpoints) of an earlier
     version's output (kernel_sources, mounted under /kaggle/input) into it;
  2. train the folds still missing with the settings it was built with,
     checkpointing each epoch (a fold that finished is never trained again);
  3. predict the test images into submission.csv (unless a fold of a fan-out).
An inference kernel (``kernel build --predict-from``) trains nothing: it finds
the folds of its source where Kaggle mounted it and predicts whatever test
images the competition mounts at run time (predict_only).
The steps are ``start``, ``train``, ``predict`` and, in a notebook, ``figures``
(the report's PNGs, shown inline); kernels.source lays them out as a script's
__main__ block or as one notebook cell each.
Archives are extracted into a temporary cache (KAGGLEKIT_CACHE), never beside
the input. Without --budget, training stops in time to predict before the
session limit (12 h, 9 h on TPU).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TypeVar

from kagglekit.core.atomic import write_json
from kagglekit.core.durations import format_duration
from kagglekit.core.errors import KagglekitError
from kagglekit.core.kaggle_paths import RERUN_ENV, kaggle_roots, under_input_root
from kagglekit.core.refs import parse_ref
from kagglekit.runs.folder import RunFolder, copy_fold, copy_run_files

log = logging.getLogger("kagglekit")

PREDICT_RESERVE = 45 * 60  # seconds of the session kept for prediction and writing outputs
LOG_FILE = "kagglekit.log"
T = TypeVar("T")


def competition_dir(input_root: Path, slug: str) -> Path:
    """Where Kaggle mounted the competition's files."""
    for candidate in (input_root / slug, input_root / "competitions" / slug):
        if candidate.is_dir():
            return candidate
    found = sorted(p.name for p in input_root.iterdir()) if input_root.is_dir() else []
    raise KagglekitError(f"the competition's files are not in {input_root / slug} (found: {', '.join(found) or 'nothing'}); "
                         f"add the competition {slug} as an input of the kernel")


def _earlier_output(input_root: Path, name: str) -> RunFolder | None:
    for candidate in (input_root / name, *input_root.glob(f"notebooks/*/{name}")):
        if RunFolder(candidate).is_run():
            return RunFolder(candidate)
    return None


def resume_from(input_root: Path, names: list[str], working: Path, only: int | None = None) -> list[str]:
    """Copy the folds of earlier outputs (by kernel slug) into WORKING; the folds taken over.

    ONLY (the fold of a fan-out kernel) limits the copy to that fold, so the
    kernel's output holds one fold and `ensemble` can merge it with the others.
    """
    taken = []
    here = RunFolder(working)
    for name in names:
        earlier = _earlier_output(input_root, name)
        if earlier is None:
            log.warning("no earlier output of kernel %s under %s; starting without it", name, input_root)
            continue
        copy_run_files(earlier, here)
        for fold in earlier.folds():
            if only is None or fold.number == only:
                what = copy_fold(fold, here)
                taken += [what] if what else []
        log.info("resuming from %s: %s", earlier.path, ", ".join(taken) or "no folds")
    return taken


def _setup_logging(working: Path) -> None:
    class _Lines(logging.Filter):
        def filter(self, record):  # bar-only progress records carry no line
            return not getattr(record, "transient", False)

    fmt = logging.Formatter("%(asctime)s %(levelname)s: %(message)s", "%H:%M:%S")
    logger = logging.getLogger("kagglekit")
    for handler in (logging.StreamHandler(sys.stderr), logging.FileHandler(working / LOG_FILE)):
        handler.setFormatter(fmt)
        handler.addFilter(_Lines())
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


@dataclass
class Session:
    """A kernel session under way: what it was built with, its roots, and what one step hands the next."""

    options: dict
    competition_file: Path
    input_root: Path
    working: Path
    started: float
    found: dict = field(default_factory=dict)  # from train to predict: competition, settings, catalog, data folder
    summary: dict = field(default_factory=dict)  # what kernel.json will say


def start(options: dict, competition_file: Path) -> Session:
    """The kernel's first step: roots, scratch cache and logging set up; returns the session the other steps take."""
    started = time.time()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    input_root, working = kaggle_roots()
    working.mkdir(parents=True, exist_ok=True)
    # Extracted archives and check results go to a scratch folder: never into the input, not into the output.
    os.environ.setdefault("KAGGLEKIT_CACHE", str(Path(tempfile.gettempdir()) / "kagglekit-cache"))
    _setup_logging(working)
    log.info("kagglekit %s (from %s) kernel %s: %s", options.get("kagglekit"), Path(__file__).resolve().parent,
             options.get("kernel"), json.dumps(options["config"]))
    return Session(options, Path(competition_file), input_root, working, started)


def step(fn: Callable[[Session], T], session: Session) -> T:
    """FN(SESSION), one step of the kernel; a KagglekitError ends the session with its reason and exit code 1."""
    try:
        return fn(session)
    except KagglekitError as exc:
        log.error("%s", exc)
        sys.exit(1)


def train(session: Session) -> None:
    """Resume from earlier outputs and train the folds still missing (an inference kernel trains nothing)."""
    from kagglekit.competition.definition import load_competition_file
    from kagglekit.core.config import check_config, config_from_json
    from kagglekit.data.catalog import build_catalog
    from kagglekit.training.crossval import train_folds

    options = session.options
    if options.get("predict_from"):
        return
    comp = load_competition_file(session.competition_file)
    config = config_from_json(options["config"])
    if config.budget is None:  # stop training in time to predict before Kaggle ends the session
        config = config.replace(budget=max(options["session_seconds"] - PREDICT_RESERVE, 600))
    if config.weights:  # a file of an attached model or dataset, wherever this session's inputs are mounted
        config = config.replace(weights=under_input_root(config.weights))
    check_config(config)
    data_dir = competition_dir(session.input_root, comp.slug)
    resumed = resume_from(session.input_root, options.get("resume_from") or [], session.working, only=config.fold)
    catalog = build_catalog(comp, data_dir, with_test=options["predict"])
    _, scores = train_folds(catalog, config, data_dir, session.working, started=session.started)
    session.found.update(catalog=catalog, data_dir=data_dir)
    session.summary = {"kernel": options.get("kernel"), "competition": comp.slug, "resumed": resumed, "scores": scores}


def predict(session: Session) -> None:
    """Write submission.csv (a training kernel's own folds, or an inference kernel's source's), then kernel.json."""
    from kagglekit.prediction.submission import write_run_submission

    options = session.options
    if options.get("predict_from"):
        session.summary = predict_only(options, session.competition_file, session.input_root, session.working,
                                       session.started)
    elif options["predict"]:
        session.summary["submission"] = write_run_submission(session.working, session.found["catalog"],
                                                             session.found["data_dir"],
                                                             RunFolder(session.working).submission)
    session.summary["seconds"] = round(time.time() - session.started, 1)
    write_json(session.working / "kernel.json", session.summary)
    log.info("done in %s; outputs in %s", format_duration(session.summary["seconds"]), session.working)


def figures(session: Session) -> list[Path]:
    """The report's PNGs (history, scores, confusion, ROC, ...) of the folds this session trained or predicted
    with, drawn into the working folder's report/; none when they could not be drawn (a warning says why)."""
    from kagglekit.runs.report import report_after_training

    run = session.working
    if session.options.get("predict_from"):  # the source is mounted read-only: its report goes to this output
        run = mounted_run(session.input_root, session.options["predict_from"]).path
    html = report_after_training(run, RunFolder(session.working).report)
    return sorted(html.parent.glob("*.png")) if html else []


def mounted_run(input_root: Path, source: dict) -> RunFolder:
    """The run folder of an inference kernel's source (SOURCE: kind and OWNER/SLUG), wherever Kaggle mounted it:
    input/<slug>/, or input/notebooks|datasets/<owner>/<slug>/, at its top or one folder down."""
    ref = parse_ref(source["ref"], None, "--predict-from", "kaggler/digits-models")
    owner, slug = ref.owner, ref.slug
    where = "notebooks" if source["kind"] == "kernel" else "datasets"
    for mount in (input_root / slug, input_root / where / owner / slug, *sorted(input_root.glob(f"{where}/*/{slug}"))):
        for folder in (mount, *sorted(p for p in mount.glob("*") if p.is_dir())):
            if RunFolder(folder).is_run():
                return RunFolder(folder)
    found = sorted(p.name for p in input_root.iterdir()) if input_root.is_dir() else []
    raise KagglekitError(f"the trained folds of {source['kind']} {source['ref']} are not under {input_root} "
                         f"(found: {', '.join(found) or 'nothing'}); attach it as an input of this kernel")


def predict_only(options: dict, competition_file: Path, input_root: Path, working: Path, started: float) -> dict:
    """An inference kernel: the source's folds on the test images mounted now; returns the summary for kernel.json."""
    from kagglekit.competition.definition import load_competition_file
    from kagglekit.core.config import config_from_json
    from kagglekit.data.catalog import build_test_catalog
    from kagglekit.prediction.submission import write_run_submission

    comp = load_competition_file(competition_file)
    config = config_from_json(options["config"])
    source = mounted_run(input_root, options["predict_from"])
    trained_for = source.read_record(required=False).competition
    if trained_for and trained_for != comp.slug:
        raise KagglekitError(f"the folds in {source.path} were trained for {trained_for}, not {comp.slug}; "
                             "build the kernel with --predict-from a run of this competition")
    data_dir = competition_dir(input_root, comp.slug)
    oof = source.read_oof()
    catalog = build_test_catalog(comp, data_dir, oof.labels if oof is not None else [])
    rerun = bool(os.environ.get(RERUN_ENV))
    log.info("predicting %d test images of %s%s with the folds in %s", len(catalog.test), comp.slug,
             " (the competition's rerun)" if rerun else "", source.path)
    copy_run_files(source, RunFolder(working))  # the settings predicted with: `kernel output` brings home a run folder
    time_left = options["time_limit"] - (time.time() - started)
    written = write_run_submission(source.path, catalog, data_dir, RunFolder(working).submission, config.tta,
                                   time_left=time_left)
    return {"kernel": options.get("kernel"), "competition": comp.slug, "predicted_with": options["predict_from"],
            "rerun": rerun, "submission": written}
