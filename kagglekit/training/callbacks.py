"""The fold's own Keras callbacks: the learning rate in the logs, checkpoints put in place whole, a line per epoch."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import keras

from kagglekit.core.durations import format_duration
from kagglekit.core.progress import report_progress

log = logging.getLogger("kagglekit")


class LogLearningRate(keras.callbacks.Callback):
    """Puts the epoch's learning rate into its logs, whichever schedule (or none) set it."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


class PublishCheckpoint(keras.callbacks.Callback):
    """Renames a freshly written checkpoint into place: the rename is atomic, the write is not."""

    def __init__(self, partial: Path, final: Path):
        super().__init__()
        self.partial, self.final = Path(partial), Path(final)

    def on_epoch_end(self, epoch, logs=None):
        if self.partial.exists():
            os.replace(self.partial, self.final)


class EpochLog(keras.callbacks.Callback):
    """One progress line per epoch: fold, epoch, metrics, and the fold's time left.

    The epoch count is the plan's (FoldPlan): --epochs, or fewer when --budget cuts the fold.
    """

    def __init__(self, fold: int, n_folds: int, plan):
        super().__init__()
        self.fold, self.n_folds, self.plan = fold, n_folds, plan

    @property
    def epochs(self) -> int:
        return self.plan.planned

    def on_train_begin(self, logs=None):
        self.started = time.monotonic()
        self.first_epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.shown = epoch, 0.0
        if self.first_epoch is None:
            self.first_epoch = epoch
            if epoch:
                log.info("fold %d: resuming at epoch %d", self.fold, epoch + 1)

    def on_train_batch_end(self, batch, logs=None):
        # Bar-only records (no line in plain output), at most a few per second.
        if time.monotonic() - self.shown > 0.25:
            self.shown = time.monotonic()
            report_progress(log, "batch", f"  epoch {self.epoch + 1}/{self.epochs} batches",
                            batch + 1, self.params.get("steps"))

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        done = epoch + 1 - self.first_epoch
        per_epoch = (time.monotonic() - self.started) / max(done, 1)
        left = per_epoch * (self.epochs - epoch - 1)
        metrics = "  ".join(f"{k} {v:.4f}" for k, v in logs.items() if k != "learning_rate")
        steps = self.params.get("steps") or 1
        report_progress(log, "batch", "  batches", steps, steps)  # closes the epoch's bar
        report_progress(log, "fold", f"fold {self.fold + 1}/{self.n_folds} epochs", epoch + 1, self.epochs,
                        "fold %d/%d  epoch %d/%d  %s  (%.0fs/epoch, ~%s left in fold)",
                        self.fold + 1, self.n_folds, epoch + 1, self.epochs, metrics, per_epoch, format_duration(left))

    def on_train_end(self, logs=None):
        report_progress(log, "fold", "fold done", self.epochs, self.epochs)  # early stopping ends the bar too
