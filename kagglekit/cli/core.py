"""The local path: choose a competition, train folds, predict, validate a submission."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from kagglekit.cli.app import (
    Competition, DataDir, Quiet, command, console, setup_logging, train_options,
)


@command("use")
def use(competition: Annotated[str, typer.Argument(help="Competition slug or path to its .toml.")]):
    """Set the default competition (stored in ./kagglekit.toml) so bare commands know it."""
    from kagglekit.competition.definition import set_default_competition

    comp = set_default_competition(competition)
    console.print(f"default competition: {comp.slug} ({comp.source})")


@command("competitions")
def competitions():
    """List the competitions kagglekit has definitions for."""
    from kagglekit.competition.definition import known_competitions

    for slug, path in sorted(known_competitions().items()):
        console.print(f"{slug:40s} {path}")


@command("models")
def models():
    """List the models and augmentation presets to choose from."""
    from kagglekit.data.augment import list_augmentations
    from kagglekit.models.registry import describe_models

    for name, text in describe_models().items():
        console.print(f"{name:16s} {text}")
    console.print(f"\naugmentations: {', '.join(list_augmentations())}")


@command("train")
@train_options
def train(
    settings: dict,
    competition: Competition = None,
    data_dir: DataDir = None,
    run_dir: Annotated[Optional[Path], typer.Option(help="Run folder [default: runs/<slug>/<settings>].")] = None,
    no_report: Annotated[bool, typer.Option("--no-report", help="Do not draw the run's report when all folds are done.")] = False,
    quiet: Quiet = False,
):
    """Train a stratified k-fold ensemble; rerunning the same command resumes it."""
    started = time.time()  # the budget counts from here
    setup_logging(quiet)
    from kagglekit.competition.definition import load_competition
    from kagglekit.runs.folder import RunFolder
    from kagglekit.training.run import train_run

    out, scores = train_run(load_competition(competition), settings, data_dir, run_dir, started)
    console.print(f"run folder: {out}")
    if scores:
        per_fold = ", ".join(f"{k}: {v:.4f}" for k, v in scores["folds"].items())
        console.print(f"OOF {scores['metric']}: {scores['oof_score']:.4f}  accuracy: {scores['oof_accuracy']:.4f}  "
                      f"(folds {per_fold}; {scores['n_oof']} images)")
        if not no_report and len(scores["folds"]) == RunFolder(out).read_config().folds:
            from kagglekit.runs.report import report_after_training

            html = report_after_training(out)
            if html:
                console.print(f"report: {html}")


@command("predict")
def predict(
    competition: Competition = None,
    data_dir: DataDir = None,
    run_dir: Annotated[Optional[Path], typer.Option(help="Run folder [default: the latest run of the competition].")] = None,
    tta: Annotated[Optional[int], typer.Option(help="Test-time views per image (1 = none, 2 = + mirror, up to 6).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Submission file [default: RUN_DIR/submission.csv].")] = None,
    quiet: Quiet = False,
):
    """Average the run's fold models on the test images and write the submission file."""
    setup_logging(quiet)
    from kagglekit.prediction.submission import predict_run

    summary = predict_run(run_dir, competition, data_dir, tta, out)
    console.print(f"submission: {summary['path']} ({summary['rows']} rows, folds {summary['folds']})")


@command("validate")
def validate(
    file: Annotated[Path, typer.Argument(help="Submission CSV to check.")],
    competition: Competition = None,
    data_dir: DataDir = None,
):
    """Check a submission file against the competition's sample submission."""
    from kagglekit.competition.definition import load_competition
    from kagglekit.data.catalog import resolve_data_dir
    from kagglekit.prediction.submission import validate_file

    comp = load_competition(competition)
    df = validate_file(comp, file, resolve_data_dir(comp, data_dir))
    console.print(f"{file}: valid submission for {comp.slug} ({len(df)} rows)")
