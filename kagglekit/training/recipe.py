"""The budget shapes the recipe: before fold 0, measured speed picks the image size and width the folds afford.

A competition's [train] table may give a range, e.g. `image_size = [64, 96]`
or `width = [1.0, 1.5]`. With --budget, the plan times a few training steps
at the candidate sizes and widths, works out how many epochs each would get in
a fold's share of the budget, and picks the largest candidate whose folds still
get `min_epochs` epochs (below that a schedule cannot finish its decay); when
none does, the smallest. A value given on the command line, or a single value
in the table, pins the setting. The choice is recorded in the run folder's
config.json, so a resumed run keeps it. Without --budget the smallest value of
each range is used.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from kagglekit.core.config import TrainConfig

log = logging.getLogger("kagglekit")

SIZE_STEP = 16  # candidate image sizes: the range's ends and the multiples of 16 between
WIDTH_STEP = 0.25
VAL_COST = 1 / 3  # a validation image costs about a third of a training image (forward only)
EPOCH_OVERHEAD = 1.0  # seconds per epoch besides the steps: iterators, checkpoint, logs (measured: 0.6-1 s)


@dataclass(frozen=True)
class RecipePlan:
    """What the budget affords: the image size and width, and the epochs and time each fold gets."""

    folds: int
    image_size: int
    width: float
    epochs: int
    fold_seconds: float
    varied: tuple[str, ...] = ()  # the settings the plan chose (from a range)

    def line(self) -> str:
        """One line, e.g. `5 folds x 24 epochs at 80 px, 9 min per fold`."""
        width = f", width {self.width:g}" if "width" in self.varied else ""
        per_fold = f"{self.fold_seconds / 60:.0f} min" if self.fold_seconds >= 120 else f"{self.fold_seconds:.0f} s"
        return f"{self.folds} folds x {self.epochs} epochs at {self.image_size} px{width}, {per_fold} per fold"


def candidates(ranges: dict[str, tuple], config: TrainConfig) -> list[tuple[int, float]]:
    """Every (image size, width) the ranges allow, cheapest first (the pinned values stay as they are)."""
    lo, hi = ranges.get("image_size", (config.image_size, config.image_size))
    sizes = sorted({int(lo), int(hi), *range(-(-int(lo) // SIZE_STEP) * SIZE_STEP, int(hi) + 1, SIZE_STEP)})
    wlo, whi = ranges.get("width", (config.width, config.width))
    widths, w = [], float(wlo)
    while w < whi - 1e-9:
        widths.append(round(w, 4))
        w += WIDTH_STEP
    widths.append(float(whi))
    return [(s, w) for s in sizes for w in widths]


def epoch_seconds(images_per_second: float, n_train: int, n_val: int) -> float:
    """Seconds of one epoch: N_TRAIN training images and N_VAL validation images at the measured rate."""
    return EPOCH_OVERHEAD + (n_train + VAL_COST * n_val) / max(images_per_second, 1e-9)


def choose_recipe(speeds: dict[tuple[int, float], float], budget_seconds: float, folds: int, n_train: int,
                  n_val: int, min_epochs: int, max_epochs: int, varied: tuple[str, ...] = ()) -> RecipePlan:
    """The plan: SPEEDS maps (image size, width) to measured training images/s; the largest candidate whose
    folds get MIN_EPOCHS epochs in an equal share of BUDGET_SECONDS wins, or else the cheapest one."""
    from kagglekit.training.budget import END_MARGIN  # budget.py imports keras: only when a plan is made

    fold_seconds = budget_seconds * (1 - END_MARGIN) / max(folds, 1)
    # "Largest" is the most pixels times channels: what a bigger input or a wider model buys.
    order = sorted(speeds, key=lambda c: (c[0] ** 2 * c[1] ** 2, c[0]))
    chosen = order[0]
    for candidate in order:
        per_epoch = epoch_seconds(speeds[candidate], n_train, n_val)
        if fold_seconds // per_epoch >= min_epochs:
            chosen = candidate
    epochs = int(min(max_epochs, max(1, fold_seconds // epoch_seconds(speeds[chosen], n_train, n_val))))
    return RecipePlan(folds, chosen[0], chosen[1], epochs, fold_seconds, varied)


def measured_speeds(options: list[tuple[int, float]], measure: Callable[[int, float], float]) -> dict:
    """Images/s of every candidate, timing only the sizes at the smallest width and the widths at the smallest
    size; the others are estimated as the product of the two slow-downs."""
    sizes, widths = sorted({s for s, _ in options}), sorted({w for _, w in options})
    at_size = {s: measure(s, widths[0]) for s in sizes}
    at_width = {w: at_size[sizes[0]] if w == widths[0] else measure(sizes[0], w) for w in widths}
    base = at_size[sizes[0]]
    return {(s, w): at_size[s] * at_width[w] / base for s, w in options}


def plan_recipe(config: TrainConfig, ranges: dict[str, tuple], n_train: int, n_val: int, folds: int,
                measure: Callable[[int, float], float], seconds_left: Callable[[], float]) -> RecipePlan:
    """The plan for FOLDS folds in the SECONDS_LEFT() of --budget once measured; MEASURE(image_size, width) ->
    training images/s."""
    speeds = measured_speeds(candidates(ranges, config), measure)
    return choose_recipe(speeds, seconds_left(), folds, n_train, n_val, config.min_epochs, config.epochs,
                         tuple(ranges))


PROBE_STEPS = 3


def step_speed(comp, config: TrainConfig, train_rows) -> Callable[[int, float], float]:
    """MEASURE(image_size, width) for plan_recipe: a few timed float32 training steps on TRAIN_ROWS' images."""
    from kagglekit.data.pipeline import training_dataset
    from kagglekit.training.devices import probe_speeds
    from kagglekit.training.fold import _targets, build_compiled_model

    rows = train_rows.head(config.batch_size * 2)

    def measure(image_size: int, width: float) -> float:
        trial = config.replace(image_size=image_size, width=width)
        ds = training_dataset(list(rows["path"]), _targets(rows["label"].to_numpy(), comp.n_classes), image_size,
                              config.batch_size, config.augment, seed=config.seed, cache=None)
        batches = [(x.numpy(), y.numpy()) for x, y in ds.take(2)]
        speed = probe_speeds(lambda jit: build_compiled_model(comp, trial, jit), batches, [("float32", False)],
                             PROBE_STEPS)[0]
        return speed.images_per_second

    return measure


def recorded_choice(saved: TrainConfig, config: TrainConfig, ranges: dict[str, tuple]) -> TrainConfig:
    """CONFIG with the values a run's plan chose (SAVED: its config.json) where they lie in RANGES: a resume
    keeps the plan it started with."""
    kept = {name: getattr(saved, name) for name, (lo, hi) in ranges.items() if lo <= getattr(saved, name) <= hi}
    return config.replace(**kept)


def planned_config(catalog, config: TrainConfig, ranges: dict[str, tuple], seconds_left) -> TrainConfig:
    """CONFIG with the image size and width --budget affords (fold 0's training images timed); logs the plan."""
    from kagglekit.training.crossval import assign_folds

    folds = assign_folds(catalog.train, config)
    first = config.fold or 0
    train = catalog.train.merge(folds, on="id")
    train_rows = train[train["fold"] != first]
    plan = plan_recipe(config, ranges, len(train_rows), int((train["fold"] == first).sum()),
                       1 if config.fold is not None else config.folds, step_speed(catalog.competition, config,
                                                                                  train_rows), seconds_left)
    log.info("plan: %s", plan.line())
    return config.replace(image_size=plan.image_size, width=plan.width)
