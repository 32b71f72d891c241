"""kagglekit's command line: one module per group of commands, all registered on one Typer app."""

from kagglekit.cli.app import app
from kagglekit.cli import core  # noqa: F401  (registers the commands)
from kagglekit.cli import report  # noqa: F401  (preview, report, runs, explain-model)
from kagglekit.cli import bench  # noqa: F401
from kagglekit.cli import kaggle  # noqa: F401
from kagglekit.cli import kernel  # noqa: F401  (kernel build/push/status/output, ensemble)
from kagglekit.cli import upload  # noqa: F401  (upload-run)


def main() -> None:
    """Entry point of the `kagglekit` script."""
    import os
    import sys

    if not (os.environ.get("KAGGLEKIT_DEBUG") or "--verbose" in sys.argv[1:2]):
        from kagglekit.cli.native_stderr import filter_native_stderr

        filter_native_stderr()
    app()
