"""Time budgets: how long each fold may train.

`kagglekit train --budget 45m` gives the whole run a deadline. crossval shares
the time left equally among the folds still to train (time a fold leaves
unused goes to the next ones). Within a fold, FoldPlan times the first steps,
plans how many epochs fit before the fold's deadline (less the time the fold's
out-of-fold prediction will take), stops after the planned epoch, and stops
mid-epoch rather than overrun. The learning-rate schedules (schedules.py)
follow the plan, so a cosine or one-cycle schedule ends at its low point when
the budget ends.
"""

from __future__ import annotations

import logging
import time

import keras

log = logging.getLogger("kagglekit")

# Held back from the whole budget for what follows the last fold (OOF files, scores).
END_MARGIN = 0.02


def fold_deadline(run_deadline: float, folds_left: int, now: float | None = None) -> float:
    """The deadline of the next fold: an equal share of the time left, less a small end margin."""
    now = time.time() if now is None else now
    usable = (run_deadline - now) * (1 - END_MARGIN)
    return now + usable / max(folds_left, 1)


class FoldPlan(keras.callbacks.Callback):
    """Plans the epochs of one fold from measured step times and stops it in time.

    reserve_per_val: seconds after training for every second one validation pass takes
    (the fold's OOF prediction runs one pass per test-time view).
    """

    PROBE_STEPS = 4  # steps timed (after the first, which traces the graph) before a first plan
    GROW_UNTIL = 0.25  # the plan may lengthen only during its first quarter (a schedule's warm-up) ...
    GROW_AT_LEAST = 2  # ... and always until the second epoch, the first timed without one-off costs, is in

    def __init__(self, max_epochs: int, steps_per_epoch: int, deadline: float | None, reserve_per_val: float = 1.0):
        super().__init__()
        self.max_epochs, self.steps = max_epochs, max(steps_per_epoch, 1)
        self.deadline, self.reserve_per_val = deadline, reserve_per_val
        self.planned = max_epochs
        self.step_time = self.val_time = None
        self.cycles: list[float] = []  # wall time from one epoch's start to the next, saving included
        self.epoch_started = None
        self.stopped = False  # True once the plan ended the fold (a later stage then does not start)

    @property
    def total_steps(self) -> int:
        """Optimizer steps the fold is planned to take (what a schedule anneals over)."""
        return self.planned * self.steps

    def on_train_begin(self, logs=None):
        self.fit_started = time.time()
        self.probe_started, self.seen = None, 0

    def on_epoch_begin(self, epoch, logs=None):
        now = time.time()
        if self.epoch_started is not None:
            self.cycles.append(now - self.epoch_started)
            self._plan(epoch, now)
        self.epoch = epoch
        self.epoch_started = now

    def on_train_batch_end(self, batch, logs=None):
        now = time.time()
        self.seen += 1
        if self.probe_started is None:
            self.probe_started = now  # the first step traces the graph; time from here
        elif self.step_time is None and self.seen > self.PROBE_STEPS:
            self.step_time = (now - self.probe_started) / (self.seen - 1)
            self._plan(self.epoch, self.epoch_started)
        last_val = self.val_time if self.val_time is not None else self._val_guess()
        if self.deadline and self.step_time and now + self.step_time + last_val + self._oof_time() > self.deadline:
            log.info("time budget: stopping this fold during epoch %d", self.epoch + 1)
            self.model.stop_training = self.stopped = True

    def on_test_begin(self, logs=None):
        self.test_started = time.time()

    def on_test_end(self, logs=None):
        self.val_time = time.time() - self.test_started

    def on_epoch_end(self, epoch, logs=None):
        # Checkpoints are written after this callback, so the plan made at the next epoch's
        # start (from whole cycles) is the one that counts; this one decides whether to stop.
        if self.cycles:
            self._plan(epoch + 1, time.time())
        if self.deadline and epoch + 1 >= self.planned and epoch + 1 < self.max_epochs:
            log.info("time budget: fold ends after epoch %d as planned", epoch + 1)
            self.model.stop_training = self.stopped = True

    def _val_guess(self) -> float:
        # Before the first validation pass, guess it from the training steps (forward only, ~1/3).
        return self.val_time if self.val_time is not None else (self.step_time or 0) * self.steps / 3

    def _epoch_time(self) -> float:
        if self.cycles:  # the first cycle also traced the graph and filled the image cache
            later = self.cycles[1:] or self.cycles
            return sum(later[-3:]) / len(later[-3:])
        return self.step_time * self.steps + self._val_guess()

    def _oof_time(self) -> float:
        """Seconds the fold needs once training ends: loading the best model and the OOF prediction."""
        return 2.0 + self._val_guess() * self.reserve_per_val

    def _plan(self, epochs_done: int, now: float) -> None:
        if not self.deadline or self.step_time is None:
            return
        left = self.deadline - now - self._oof_time()
        fits = epochs_done + int(max(left, 0) // self._epoch_time())
        planned = max(1, min(self.max_epochs, fits))
        if planned > self.planned and epochs_done > max(self.GROW_UNTIL * self.planned, self.GROW_AT_LEAST):
            # Past the warm-up a longer plan would push a cosine or one-cycle rate back up
            # when the machine gets quieter; the time left goes to the next folds instead.
            # The first epoch's cycle (tracing, XLA compilation, filling the image cache) often
            # shortens a short plan: the second epoch's time may lengthen it again.
            planned = self.planned
        if not self.cycles or planned < self.planned:
            log.info("time budget: %.1fs per epoch, planning %d epochs for this fold", self._epoch_time(), planned)
        self.planned = planned
