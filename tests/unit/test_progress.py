"""Progress output: live bars on a terminal, plain lines elsewhere, nothing with --quiet."""

import io
import logging

from rich.console import Console

from kagglekit.cli.progress import LiveHandler, PlainHandler, progress_handler
from kagglekit.core.progress import report_progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def _logger(handler):
    logger = logging.getLogger("kagglekit.test_progress")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def test_plain_output_skips_bar_only_records():
    stream = io.StringIO()
    assert isinstance(progress_handler(Console(file=stream)), PlainHandler)
    logger = _logger(PlainHandler(stream))
    for batch in range(5):
        report_progress(logger, "batch", "epoch 1/2 batches", batch + 1, 5)
    report_progress(logger, "fold", "fold 1/2 epochs", 1, 2, "fold %d/%d  epoch %d/%d", 1, 2, 1, 2)
    logger.warning("a warning")
    assert stream.getvalue().splitlines() == ["INFO: fold 1/2  epoch 1/2", "WARNING: a warning"]


def test_live_bars_on_a_terminal():
    stream = Terminal()
    console = Console(file=stream, width=100, force_terminal=True, color_system=None)
    handler = progress_handler(console)
    assert isinstance(handler, LiveHandler)
    logger = _logger(handler)
    report_progress(logger, "fold", "fold 1/2 epochs", 0, 2)
    report_progress(logger, "batch", "epoch 1/2 batches", 3, 10)
    assert set(handler.tasks) == {"fold", "batch"} and handler.progress is not None
    report_progress(logger, "batch", "batches", 10, 10)
    report_progress(logger, "fold", "fold 1/2 epochs", 1, 2, "fold 1/2  epoch 1/2  loss 0.5")
    assert set(handler.tasks) == {"fold"}
    report_progress(logger, "fold", "fold 1/2 epochs", 2, 2, "fold 1/2  epoch 2/2  loss 0.4")
    assert handler.tasks == {} and handler.progress is None  # all bars done: the live display is stopped
    for fold in (2, 3):  # bars come back for the next fold, after others were removed
        report_progress(logger, "batch", "batches", 1, 10)
        report_progress(logger, "fold", f"fold {fold}/3 epochs", 1, 2, f"fold {fold}/3  epoch 1/2")
        report_progress(logger, "batch", "batches", 10, 10)
        report_progress(logger, "batch", "batches", 4, 10)
        report_progress(logger, "fold", f"fold {fold}/3 epochs", 0, 2)  # restarts the bar
        report_progress(logger, "fold", "fold done", 2, 2)
        report_progress(logger, "batch", "batches", 10, 10)
        assert handler.tasks == {}
    logger.warning("careful")
    text = stream.getvalue()
    assert "fold 1/2  epoch 1/2  loss 0.5" in text and "fold 1/2  epoch 2/2  loss 0.4" in text
    assert "warning: careful" in text and "fold 3/3  epoch 1/2" in text and "Traceback" not in text
    handler.close()


def test_quiet_logs_no_progress():
    stream = io.StringIO()
    logger = _logger(PlainHandler(stream))
    logger.setLevel(logging.WARNING)
    report_progress(logger, "fold", "fold", 1, 2, "fold 1/2 done")
    assert stream.getvalue() == ""
