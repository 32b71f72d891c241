"""The local path: choose a competition, train folds, predict, validate a submission."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from kagglekit.cli.app import (
    Augment, BatchSize, Budget, Competition, DataDir, Epochs, Fold, Folds, ImageSize, LearningRate,
    ModelName, Precision, Quiet, Sample, Seed, Weights, command, console, setup_logging,
)


def resolve_data_dir(comp, data_dir: Path | None) -> Path:
    """--data-dir, or data/<slug>; the built-in demo writes its files there on first use."""
    from kagglekit import demo
    from kagglekit.config import default_data_dir

    path = data_dir or default_data_dir(comp.slug)
    if comp.slug == demo.SLUG and data_dir is None and not path.exists():
        demo.write_demo_competition(path)
    return path


@command("use")
def use(competition: Annotated[str, typer.Argument(help="Competition slug or path to its .toml.")]):
    """Set the default competition (stored in ./kagglekit.toml) so bare commands know it."""
    from kagglekit.competition import set_default_competition

    comp = set_default_competition(competition)
    console.print(f"default competition: {comp.slug} ({comp.source})")


@command("competitions")
def competitions():
    """List the competitions kagglekit has definitions for."""
    from kagglekit.competition import known_competitions

    for slug, path in sorted(known_competitions().items()):
        console.print(f"{slug:40s} {path}")


@command("models")
def models():
    """List the models and augmentation presets to choose from."""
    from kagglekit.augment import list_augmentations
    from kagglekit.models import describe_models

    for name, text in describe_models().items():
        console.print(f"{name:16s} {text}")
    console.print(f"\naugmentations: {', '.join(list_augmentations())}")


@command("train")
def train(
    competition: Competition = None,
    data_dir: DataDir = None,
    folds: Folds = None,
    fold: Fold = None,
    epochs: Epochs = None,
    image_size: ImageSize = None,
    model: ModelName = None,
    weights: Weights = None,
    augment: Augment = None,
    batch_size: BatchSize = None,
    learning_rate: LearningRate = None,
    sample: Sample = None,
    seed: Seed = None,
    budget: Budget = None,
    precision: Precision = None,
    run_dir: Annotated[Optional[Path], typer.Option(help="Run folder [default: runs/<slug>/<settings>].")] = None,
    no_report: Annotated[bool, typer.Option("--no-report", help="Do not draw the run's report when all folds are done.")] = False,
    quiet: Quiet = False,
):
    """Train a stratified k-fold ensemble; rerunning the same command resumes it."""
    started = time.time()  # the budget counts from here
    setup_logging(quiet)
    from kagglekit.catalog import build_catalog
    from kagglekit.competition import load_competition
    from kagglekit.config import parse_duration, resolve_config
    from kagglekit.crossval import train_folds

    comp = load_competition(competition)
    config = resolve_config(
        comp.train_defaults, folds=folds, fold=fold, epochs=epochs, image_size=image_size, model=model,
        weights=weights, augment=augment, batch_size=batch_size, learning_rate=learning_rate, sample=sample, seed=seed,
        budget=parse_duration(budget) if budget is not None else None, precision=precision,
    )
    _check_names(config)
    data = resolve_data_dir(comp, data_dir)
    catalog = build_catalog(comp, data)  # test files too: a missing test image should not wait for predict
    out, scores = train_folds(catalog, config, data, run_dir, started=started)
    console.print(f"run folder: {out}")
    if scores:
        per_fold = ", ".join(f"{k}: {v:.4f}" for k, v in scores["folds"].items())
        console.print(f"OOF {scores['metric']}: {scores['oof_score']:.4f}  accuracy: {scores['oof_accuracy']:.4f}  "
                      f"(folds {per_fold}; {scores['n_oof']} images)")
        if not no_report and len(scores["folds"]) == config.folds:
            from kagglekit.report import report_after_training

            html = report_after_training(out)
            if html:
                console.print(f"report: {html}")


def _check_names(config) -> None:
    """Fail on a bad model or augmentation name before any data is read."""
    from kagglekit.augment import get_augmentation
    from kagglekit.errors import KagglekitError
    from kagglekit.models import list_models, min_image_size

    get_augmentation(config.augment)
    if config.model not in list_models():
        raise KagglekitError(f"unknown model '{config.model}'; valid models: {', '.join(list_models())}")
    if config.image_size < min_image_size(config.model):
        raise KagglekitError(f"model '{config.model}' needs --image-size {min_image_size(config.model)} or more")


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
    import json

    from kagglekit.catalog import build_catalog
    from kagglekit.competition import load_competition
    from kagglekit.crossval import latest_run_dir, load_run_config
    from kagglekit.errors import KagglekitError
    from kagglekit.predict import write_run_submission

    if tta is not None and tta < 1:
        raise KagglekitError("--tta must be at least 1 (1 = no test-time augmentation)")
    if run_dir is not None and not competition:
        info = Path(run_dir) / "run.json"
        if info.is_file():
            competition = json.loads(info.read_text())["competition_file"]
    comp = load_competition(competition)
    run = Path(run_dir) if run_dir else latest_run_dir(comp.slug)
    load_run_config(run)
    data = resolve_data_dir(comp, data_dir or _run_data_dir(run))
    catalog = build_catalog(comp, data)
    summary = write_run_submission(run, catalog, data, out, tta)
    console.print(f"submission: {summary['path']} ({summary['rows']} rows, folds {summary['folds']})")


def _run_data_dir(run: Path) -> Path | None:
    import json

    info = run / "run.json"
    return Path(json.loads(info.read_text())["data_dir"]) if info.is_file() else None


@command("validate")
def validate(
    file: Annotated[Path, typer.Argument(help="Submission CSV to check.")],
    competition: Competition = None,
    data_dir: DataDir = None,
):
    """Check a submission file against the competition's sample submission."""
    from kagglekit.competition import load_competition
    from kagglekit.submission import validate_file

    comp = load_competition(competition)
    df = validate_file(comp, file, resolve_data_dir(comp, data_dir))
    console.print(f"{file}: valid submission for {comp.slug} ({len(df)} rows)")
