"""Learning-rate schedules that follow a fold's plan: cosine with warm-up, and one-cycle.

The total number of steps comes from the fold's plan (budget.FoldPlan), which
shrinks when --budget is short, so the rate reaches its low point when the
fold's time runs out rather than at the --epochs cap.
"""

from __future__ import annotations

import math

import keras


def learning_rate_at(schedule: str, base: float, step: int, total: int, warmup: float) -> float:
    """The learning rate at STEP of TOTAL steps for the cosine and onecycle schedules.

    cosine: linear warm-up over WARMUP of the steps, then a cosine decay to 0.
    onecycle: from base/25 up to base over 30% of the steps, then cosine down to base/2500
    (Smith's one-cycle policy with cosine annealing, as in fastai's fit_one_cycle).
    """
    total = max(total, 1)
    if schedule == "onecycle":
        warmup, start, end = 0.3, base / 25, base / 2500
    else:
        start, end = 0.0, 0.0
    rise = max(int(warmup * total), 1) if warmup > 0 else 0
    if step < rise:
        return start + (base - start) * (step + 1) / rise
    progress = min((step - rise) / max(total - rise, 1), 1.0)
    return end + (base - end) * 0.5 * (1 + math.cos(math.pi * progress))


class LearningRate(keras.callbacks.Callback):
    """Sets the learning rate every step from a cosine or one-cycle schedule over the planned steps.

    SKIP_EPOCHS of the plan belong to an earlier stage with an optimizer of its own (fine-tuning's
    head-only epochs): the schedule runs over the rest.
    """

    def __init__(self, schedule: str, base: float, warmup: float, plan, skip_epochs: int = 0):  # plan: budget.FoldPlan
        super().__init__()
        self.schedule, self.base, self.warmup, self.plan, self.skip_epochs = schedule, base, warmup, plan, skip_epochs

    def on_train_batch_begin(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())  # survives BackupAndRestore
        total = self.plan.total_steps - self.skip_epochs * self.plan.steps
        self.model.optimizer.learning_rate.assign(
            learning_rate_at(self.schedule, self.base, step, total, self.warmup))
