"""Progress of long steps, reported through logging so that library code never prints.

``report_progress`` logs a record that carries a ``progress`` attribute. The
CLI decides how to show it (see kagglekit/cli/progress.py): a live bar on a
terminal, and in plain output (CI logs, pipes) only the records that have a
message, so logs stay readable. A record without a message is transient: it
only moves a bar.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    """How far one step has got: KEY names the bar (one bar per key), TOTAL None = unknown."""

    key: str
    description: str
    done: int
    total: int | None


def report_progress(logger: logging.Logger, key: str, description: str, done: int, total: int | None,
                    message: str | None = None, *args) -> None:
    """Move the bar KEY to DONE of TOTAL; with MESSAGE (and its %-ARGS), also log it as a line."""
    if not logger.isEnabledFor(logging.INFO):
        return
    transient = message is None
    logger.info(message if message is not None else "%s %d/%s", *(args if message is not None else (description, done, total)),
                extra={"progress": Progress(key, description, done, total), "transient": transient})
