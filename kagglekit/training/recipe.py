"""The budget shapes the recipe: before fold 0, measured speed picks the image size and width the folds afford.

A competition's [train] table may give a range, e.g. `image_size = [64, 96]`
or `width = [1.0, 1.5]`. With --budget, the plan times a few training steps
at the candidate sizes and widths through the real augmenting input pipeline,
works out how many epochs each would get in a fold's share of the budget (less
what a fold spends outside its epochs: building and tracing the model, decoding
its images into the cache, the out-of-fold prediction), and picks the largest candidate whose folds still
get `min_epochs` epochs (below that a schedule cannot finish its decay); when
none does, the smallest. A value given on the command line, or a single value
in the table, pins the setting. The choice is recorded in the run folder's
config.json, so a resumed run keeps it. Without --budget the smallest value of
each range is used.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

from kagglekit.core.config import TrainConfig

log = logging.getLogger("kagglekit")

SIZE_STEP = 16  # candidate image sizes: the range's ends and the multiples of 16 between
WIDTH_STEP = 0.25
VAL_COST = 1 / 3  # a validation image costs about a third of a training image (forward only)
EPOCH_OVERHEAD = 1.0  # seconds per epoch besides the steps: iterators, checkpoint, logs (measured: 0.6-1 s)
# Four timed steps estimate an epoch to a few percent (41 s planned, 42 s run: bn_cnn_small at 96 px, width 2):
# planning with 5% more keeps a candidate at the edge of min_epochs from ending a fold one epoch short.
EPOCH_MARGIN = 1.05


@dataclass(frozen=True)
class StepCost:
    """What one candidate (image size, width) costs, measured before fold 0."""

    images_per_second: float  # training steps fed by the augmenting pipeline, which shares the cores
    decode_seconds: float = 0.0  # per image, once per fold: decoding and resizing into the cache
    start_seconds: float = 0.0  # once per fold: building the model and tracing its training and validation steps


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


def epoch_seconds(cost: StepCost, n_train: int, n_val: int) -> float:
    """Seconds of one epoch: N_TRAIN training images and N_VAL validation images at COST's measured rate."""
    return EPOCH_MARGIN * (EPOCH_OVERHEAD + (n_train + VAL_COST * n_val) / max(cost.images_per_second, 1e-9))


def fold_fixed_seconds(cost: StepCost, n_train: int, n_val: int, views: int) -> float:
    """Seconds a fold spends besides its epochs: start, the images decoded once, the OOF prediction in VIEWS
    test-time views (what budget.FoldPlan holds back for it)."""
    oof = 2.0 + views * VAL_COST * n_val / max(cost.images_per_second, 1e-9)
    return cost.start_seconds + cost.decode_seconds * (n_train + n_val) + oof


def fold_epochs(cost: StepCost, fold_seconds: float, n_train: int, n_val: int, views: int) -> int:
    """Whole epochs that fit in FOLD_SECONDS once a fold's fixed costs are paid."""
    left = fold_seconds - fold_fixed_seconds(cost, n_train, n_val, views)
    return int(max(left, 0) // epoch_seconds(cost, n_train, n_val))


def choose_recipe(costs: dict[tuple[int, float], StepCost], budget_seconds: float, folds: int, n_train: int,
                  n_val: int, min_epochs: int, max_epochs: int, varied: tuple[str, ...] = (),
                  views: int = 1) -> RecipePlan:
    """The plan: COSTS maps (image size, width) to its measured StepCost; the largest candidate whose folds
    get MIN_EPOCHS epochs in an equal share of BUDGET_SECONDS wins, or else the cheapest one."""
    from kagglekit.training.budget import END_MARGIN  # budget.py imports keras: only when a plan is made

    fold_seconds = budget_seconds * (1 - END_MARGIN) / max(folds, 1)
    # "Largest" is the most pixels times channels: what a bigger input or a wider model buys.
    order = sorted(costs, key=lambda c: (c[0] ** 2 * c[1] ** 2, c[0]))
    chosen = order[0]
    for candidate in order:
        if fold_epochs(costs[candidate], fold_seconds, n_train, n_val, views) >= min_epochs:
            chosen = candidate
    epochs = int(min(max_epochs, max(1, fold_epochs(costs[chosen], fold_seconds, n_train, n_val, views))))
    return RecipePlan(folds, chosen[0], chosen[1], epochs, fold_seconds, varied)


def measured_costs(options: list[tuple[int, float]], measure: Callable[[int, float], StepCost]) -> dict:
    """The StepCost of every candidate, timing only the sizes at the smallest width and the widths at the
    smallest size; the others' rates are estimated as the product of the two slow-downs (decoding depends on
    the size alone)."""
    sizes, widths = sorted({s for s, _ in options}), sorted({w for _, w in options})
    at_size = {s: measure(s, widths[0]) for s in sizes}
    at_width = {w: at_size[sizes[0]] if w == widths[0] else measure(sizes[0], w) for w in widths}
    base = at_size[sizes[0]]

    def combined(s, w):
        rate = at_size[s].images_per_second * at_width[w].images_per_second / base.images_per_second
        start = max(at_size[s].start_seconds, at_width[w].start_seconds)
        return StepCost(rate, at_size[s].decode_seconds, start)

    return {(s, w): combined(s, w) for s, w in options}


def plan_recipe(config: TrainConfig, ranges: dict[str, tuple], n_train: int, n_val: int, folds: int,
                measure: Callable[[int, float], StepCost], seconds_left: Callable[[], float],
                views: int = 1) -> RecipePlan:
    """The plan for FOLDS folds in the SECONDS_LEFT() of --budget once measured; MEASURE(image_size, width) ->
    StepCost; VIEWS: the test-time views of each fold's OOF prediction."""
    costs = measured_costs(candidates(ranges, config), measure)
    return choose_recipe(costs, seconds_left(), folds, n_train, n_val, config.min_epochs, config.epochs,
                         tuple(ranges), views)


PROBE_STEPS = 4


def step_speed(comp, config: TrainConfig, train_rows, precision=None) -> Callable[[int, float], StepCost]:
    """MEASURE(image_size, width) for plan_recipe: a few training steps in PRECISION (a devices.Precision; default
    float32) timed as a fold runs them, fed by the augmenting pipeline from its in-memory cache (so augmentation
    shares the cores as in model.fit), plus the decoding of TRAIN_ROWS' first images and the tracing of the first
    step."""
    import keras

    from kagglekit.data.pipeline import decoded_dataset, training_dataset
    from kagglekit.training.fold import _targets, build_compiled_model

    rows = train_rows.head(config.batch_size * 2)
    paths, targets = list(rows["path"]), _targets(rows["label"].to_numpy(), comp.n_classes)

    def measure(image_size: int, width: float) -> StepCost:
        started = time.perf_counter()
        for _ in decoded_dataset(paths, image_size, cache=None):
            pass
        decode = (time.perf_counter() - started) / len(paths)
        trial = config.replace(image_size=image_size, width=width)
        batches = iter(training_dataset(paths, targets, image_size, config.batch_size, config.augment,
                                        seed=config.seed).repeat())
        keras.utils.set_random_seed(0)
        keras.mixed_precision.set_global_policy(precision.policy if precision else "float32")
        try:
            started = time.perf_counter()
            model = build_compiled_model(comp, trial, precision.jit if precision else False)
            model.train_on_batch(*next(batches))  # builds and traces the step; the cache fills here
            start = time.perf_counter() - started
            next(batches)
            started, images = time.perf_counter(), 0
            for _ in range(PROBE_STEPS):
                x, y = next(batches)
                model.train_on_batch(x, y)
                images += len(x)
            rate = images / max(time.perf_counter() - started, 1e-9)
        finally:
            keras.mixed_precision.set_global_policy("float32")
        # A fold traces its validation step too: about as long again as the training step's build and trace.
        return StepCost(rate, decode, 2 * start)

    return measure


def recorded_choice(saved: TrainConfig, config: TrainConfig, ranges: dict[str, tuple]) -> TrainConfig:
    """CONFIG with the values a run's plan chose (SAVED: its config.json) where they lie in RANGES: a resume
    keeps the plan it started with."""
    kept = {name: getattr(saved, name) for name, (lo, hi) in ranges.items() if lo <= getattr(saved, name) <= hi}
    return config.replace(**kept)


def planned_config(catalog, config: TrainConfig, ranges: dict[str, tuple], seconds_left):
    """(CONFIG with the image size and width --budget affords, the precision the folds train with); logs the plan.

    The precision is chosen as --precision says for the smallest candidate, and every candidate is timed in it
    on fold 0's training images: the folds then train at the speeds the plan measured, and fold 0 does not
    measure precisions again out of its share of the budget."""
    from kagglekit.models.inference import tta_views
    from kagglekit.training.crossval import assign_folds
    from kagglekit.training.fold import choose_precision

    folds = assign_folds(catalog.train, config)
    first = config.fold or 0
    train = catalog.train.merge(folds, on="id")
    train_rows = train[train["fold"] != first]
    views = len(tta_views(config.augment, config.tta, config.tta_shift))
    comp = catalog.competition
    smallest = config.replace(**dict(zip(("image_size", "width"), candidates(ranges, config)[0])))
    precision = choose_precision(comp, smallest, train_rows)
    plan = plan_recipe(config, ranges, len(train_rows), int((train["fold"] == first).sum()),
                       1 if config.fold is not None else config.folds,
                       step_speed(comp, config, train_rows, precision), seconds_left, views)
    log.info("plan: %s", plan.line())
    return config.replace(image_size=plan.image_size, width=plan.width), precision
