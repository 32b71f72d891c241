"""The Typer app, shared options, and the one error boundary of the CLI.

Command modules register themselves with ``@command()``; a KagglekitError
raised anywhere below becomes one red line on stderr and exit code 1.
Nothing here imports TensorFlow, so ``kagglekit --help`` stays instant.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from kagglekit.errors import KagglekitError

app = typer.Typer(
    name="kagglekit",
    help="From a Kaggle image-classification competition to a scored submission: fetch, train, predict, submit.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts say "[default: ...]": plain text, not rich markup
)
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

Competition = Annotated[
    Optional[str],
    typer.Option("--competition", "-c", help="Competition slug or path to its .toml (default: 'kagglekit use').", show_default=False),
]
DataDir = Annotated[
    Optional[Path],
    typer.Option("--data-dir", help="Folder with the competition's files as Kaggle ships them [default: data/<slug>].", show_default=False),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]

# Training options shared by `train` and `kernel build` (a kernel trains with the same settings).
Folds = Annotated[Optional[int], typer.Option(help="Number of stratified folds [default: 5].", show_default=False)]
Fold = Annotated[Optional[int], typer.Option(help="Train only fold K (0-based), e.g. to run folds in parallel.")]
Epochs = Annotated[Optional[int], typer.Option(help="Most epochs per fold (early stopping may end sooner).")]
ImageSize = Annotated[Optional[int], typer.Option(help="Input size in pixels (square).")]
ModelName = Annotated[Optional[str], typer.Option("--model", help="Model name ('kagglekit models' lists them).")]
Weights = Annotated[Optional[str], typer.Option(
    help="Backbone weights: none, imagenet, or a local file (in a kernel: a file under /kaggle/input).")]
Augment = Annotated[Optional[str], typer.Option(help="Augmentation preset ('kagglekit models' lists them).")]
BatchSize = Annotated[Optional[int], typer.Option(help="Batch size per device (multiplied by the number of GPUs).")]
LearningRate = Annotated[Optional[float], typer.Option(help="Initial (peak) learning rate.")]
Sample = Annotated[Optional[int], typer.Option(help="Train on a stratified subset of N images (quick trials).")]
Seed = Annotated[Optional[int], typer.Option(help="Random seed for folds, augmentation and weights.")]
Budget = Annotated[Optional[str], typer.Option(help="Time for the whole run, e.g. 45m, 2h, 8h30m: epochs are planned to fit.")]
Precision = Annotated[Optional[str], typer.Option(
    help="auto (mixed on GPUs that support it), float32, mixed_float16, mixed_bfloat16.")]


def command(*args, on: typer.Typer | None = None, **kwargs):
    """Register a CLI command behind the error boundary (on the main app, or the sub-app ON)."""

    def decorate(fn):
        @functools.wraps(fn)
        def guarded(*a, **k):
            try:
                return fn(*a, **k)
            except KagglekitError as exc:
                err_console.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
                raise typer.Exit(1) from None
            except KeyboardInterrupt:
                err_console.print("[bold red]interrupted:[/] run the same command again to resume", soft_wrap=True)
                raise typer.Exit(130) from None

        return (on or app).command(*args, **kwargs)(guarded)

    return decorate


def setup_logging(quiet: bool = False) -> None:
    """Send kagglekit's progress and warnings to stderr (live bars on a terminal, plain lines otherwise)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logger = logging.getLogger("kagglekit")
    for old in list(logger.handlers):
        logger.removeHandler(old)
        old.close()
    from kagglekit.cli.progress import progress_handler

    logger.addHandler(progress_handler(err_console))  # live bars on a terminal, plain lines otherwise
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    logger.propagate = False
    # TensorFlow's own Python logger repeats retracing advice that users cannot act on.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    import warnings

    warnings.filterwarnings("ignore", message=".*shuffle=True.*", category=UserWarning)
