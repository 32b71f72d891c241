"""The Typer app, shared options, and the one error boundary of the CLI.

Command modules register themselves with ``@command()``; a KagglekitError
raised anywhere below becomes one red line on stderr and exit code 1.
Nothing here imports TensorFlow, so ``kagglekit --help`` stays instant.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from kagglekit.core.errors import KagglekitError

app = typer.Typer(
    name="kagglekit",
    help="From a Kaggle image-classification competition to a scored submission: fetch, train, predict, submit.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts say "[default: ...]": plain text, not rich markup
)


@app.callback()
def _global_options(
    verbose: Annotated[bool, typer.Option("--verbose", help="Also show TensorFlow's own start-up lines (as KAGGLEKIT_DEBUG=1 does); "
                                                      "give it before the command: kagglekit --verbose train ...")] = False,
):
    """From a Kaggle image-classification competition to a scored submission: fetch, train, predict, submit."""
    # The work is done in kagglekit.cli.main, before TensorFlow can be imported.


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



def train_options(fn):
    """Give the command FN one option per training setting (config.TrainConfig's fields, declared there once).

    FN takes a SETTINGS parameter instead: a dict of the options given on the
    command line, ready for config.resolve_config. Adding a field to TrainConfig
    adds the flag to `train` and `kernel build` alike.
    """
    from kagglekit.core.config import TrainConfig, setting_help, setting_names, setting_types

    parse = {f.name: f.metadata.get("parse") for f in dataclasses.fields(TrainConfig)}
    extra, annotations = [], {}
    for name in setting_names():
        value_type = next(t for t in setting_types()[name] if t is not type(None))
        if parse[name]:  # given as text, e.g. --budget 45m
            value_type = str
        flag = f"--{name.replace('_', '-')}"
        if value_type is bool:  # a switch both ways: --bn-scale / --no-bn-scale
            flag = f"{flag}/--no-{name.replace('_', '-')}"
        annotation = Annotated[Optional[value_type], typer.Option(flag, help=setting_help(name), show_default=False)]
        extra.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation))
        annotations[name] = annotation
    own = [p for p in inspect.signature(fn, eval_str=True).parameters.values() if p.name != "settings"]

    @functools.wraps(fn)
    def with_settings(*args, **kwargs):
        given = {name: kwargs.pop(name, None) for name in setting_names()}
        return fn(*args, settings={k: v for k, v in given.items() if v is not None}, **kwargs)

    with_settings.__signature__ = inspect.Signature(own + extra)
    with_settings.__annotations__ = {p.name: p.annotation for p in own} | annotations
    del with_settings.__wrapped__  # Typer must read the new signature, not FN's
    return with_settings


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
