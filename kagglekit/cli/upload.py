"""Publishing a local run as a Kaggle dataset: `kagglekit upload-run` (for inference kernels and code competitions)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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
