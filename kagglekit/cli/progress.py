"""How the CLI shows kagglekit's log records: live bars on a terminal, plain lines elsewhere.

Library code reports progress with kagglekit.core.progress.report_progress (a log
record with a ``progress`` attribute) and never prints. On a terminal, such
records move rich progress bars and other records are printed above them; when
stderr is not a terminal (CI logs, pipes, tests) each record with a message is
one plain line and bar-only records are dropped.
"""

from __future__ import annotations

import atexit
import logging
import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class PlainHandler(logging.StreamHandler):
    """One line per message on stderr; records that only move a bar are skipped."""

    def __init__(self, stream=None):
        super().__init__(stream or sys.stderr)
        self.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "transient", False):
            return
        super().emit(record)


class LiveHandler(logging.Handler):
    """Messages printed above live progress bars, one bar per progress key."""

    STYLES = {"WARNING": "yellow", "ERROR": "bold red", "CRITICAL": "bold red"}

    def __init__(self, console: Console):
        super().__init__()
        self.console = console
        self.progress: Progress | None = None
        self.tasks: dict[str, int] = {}
        atexit.register(self.close)

    def _bars(self) -> Progress:
        if self.progress is None:
            self.progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                console=self.console, transient=True,
            )
            self.progress.start()
        return self.progress

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if not getattr(record, "transient", False):
                text = record.getMessage()
                style = self.STYLES.get(record.levelname)
                line = f"[{style}]{record.levelname.lower()}:[/] {text}" if style else text
                (self.progress.console if self.progress else self.console).print(line, markup=bool(style),
                                                                                  highlight=False, soft_wrap=True)
            state = getattr(record, "progress", None)
            if state is not None:
                self._update(state)
        except Exception:  # noqa: BLE001 - a display problem must never stop training
            self.handleError(record)

    def _update(self, state) -> None:
        bars = self._bars()
        task = self.tasks.get(state.key)
        if task is None:
            task = self.tasks[state.key] = bars.add_task(state.description, total=state.total)
        elif state.done < next(t.completed for t in bars.tasks if t.id == task):  # a new round of the step
            bars.reset(task, total=state.total)
        bars.update(task, description=state.description, completed=state.done, total=state.total)
        if state.total is not None and state.done >= state.total:
            bars.remove_task(task)
            del self.tasks[state.key]
            if not self.tasks:
                self.close()

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
            self.tasks.clear()
        super().close()


def progress_handler(console: Console) -> logging.Handler:
    """Live bars when CONSOLE writes to a terminal, plain lines otherwise."""
    # isatty() rather than console.is_terminal: FORCE_COLOR, set in many CI systems, must not bring live bars to logs.
    stream = console.file
    on_terminal = hasattr(stream, "isatty") and stream.isatty() and not console.is_dumb_terminal
    return LiveHandler(console) if on_terminal else PlainHandler(stream)
