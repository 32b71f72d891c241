"""Publishing to Kaggle for kernels: a run as a dataset (`kagglekit upload-run`), backbone weights as a Kaggle Model (`kagglekit upload-weights`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from kagglekit.cli.app import Quiet, command, console, setup_logging


@command("upload-run")
def upload_run(
    run_dir: Annotated[Path, typer.Argument(help="The run folder to publish (what 'kagglekit train' wrote).")],
    dataset: Annotated[str, typer.Option("--dataset", help="The private dataset to publish it as, OWNER/SLUG "
                                                            "(created, or given a new version).")] = ...,
    message: Annotated[str, typer.Option("--message", "-m", help="Notes of a new version.")] = "",
    quiet: Quiet = False,
):
    """Publish a run's finished folds and settings as a private Kaggle dataset, for an inference kernel to mount."""
    setup_logging(quiet)
    from kagglekit.kaggle.upload_run import upload_run as publish

    published = publish(run_dir, dataset, message)
    what = "created dataset" if published.created else "new version of dataset"
    version = f" (version {published.version})" if published.version else ""
    console.print(f"{what} {published.ref}{version}: {len(published.files)} files from {run_dir}"
                  + (f", {published.url}" if published.url else ""))
    console.print(f"next: kagglekit kernel build --predict-from dataset:{published.ref}")


@command("upload-weights")
def upload_weights(
    model: Annotated[str, typer.Argument(help="The backbone whose weights to publish, e.g. efficientnet_b0.")],
    kaggle_model: Annotated[str, typer.Option("--model", help="The private Kaggle Model to publish them in, "
                                                              "OWNER/NAME (created, or its instance given a new version).")] = ...,
    file: Annotated[Optional[Path], typer.Option("--file", help="The weights file [default: the one Keras downloaded "
                                                                "for MODEL under ~/.keras/models/].")] = None,
    message: Annotated[str, typer.Option("--message", "-m", help="Notes of a new version.")] = "",
    quiet: Quiet = False,
):
    """Publish a backbone's pretrained weights as a private Kaggle Model, for kernels with the internet off."""
    setup_logging(quiet)
    from kagglekit.kaggle.upload_weights import upload_weights as publish

    published = publish(model, kaggle_model, file, message)
    what = {"model": "created model", "instance": "created instance", "version": "new version of"}[published.created]
    console.print(f"{what} {published.handle.rsplit('/', 1)[0]} (version {published.version})")
    console.print(f"--model-source {published.handle}", markup=False)
    console.print(f"--weights {published.weights}", markup=False)
    console.print(f"next: kagglekit kernel build --model {model} --model-source {published.handle} "
                  f"--weights {published.weights}", markup=False)
