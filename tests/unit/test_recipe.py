"""The budget shapes the recipe: the plan's choice of image size and width, on simulated speeds and clocks."""

import pytest

from kagglekit.core.config import TrainConfig, check_train_table, resolve_config, train_ranges
from kagglekit.core.errors import KagglekitError
from kagglekit.training.recipe import (
    RecipePlan, StepCost, candidates, choose_recipe, fold_epochs, measured_costs, plan_recipe, recorded_choice)


def _speed(rate_at_64: float, width_cost: float = 1.0, decode: float = 0.0, start: float = 0.0):
    """A simulated machine: images/s falls with the pixels (a little better than linearly, as measured)."""
    calls = []

    def measure(size, width):
        calls.append((size, width))
        return StepCost(rate_at_64 * (64 / size) ** 1.6 / (width / 1.0) ** (2 * width_cost), decode, start)

    measure.calls = calls
    return measure


def test_candidates_cover_the_range_in_steps():
    config = TrainConfig(image_size=64, width=1.0)
    assert candidates({"image_size": (64, 96)}, config) == [(64, 1.0), (80, 1.0), (96, 1.0)]
    assert candidates({"width": (1.0, 1.5)}, config) == [(64, 1.0), (64, 1.25), (64, 1.5)]
    assert candidates({}, config) == [(64, 1.0)]


def test_the_largest_size_whose_folds_get_the_epochs_wins():
    config = TrainConfig(image_size=64, budget=2700, epochs=1000, min_epochs=12)
    fast, slow = _speed(200.0), _speed(40.0)
    plan = plan_recipe(config, {"image_size": (64, 96)}, 3200, 800, 5, fast, lambda: 2700)
    # 2700 s x 0.98 / 5 folds = 529 s per fold, less 4.6 s of OOF prediction; at 96 px the simulated machine
    # runs 104 images/s: epochs of 34.2 s, planned as 36.0 s (5% margin), 14 of them
    assert (plan.image_size, plan.epochs) == (96, 14)
    assert plan.line() == "5 folds x 14 epochs at 96 px, 9 min per fold"
    middle = plan_recipe(config, {"image_size": (64, 96)}, 3200, 800, 5, _speed(140.0), lambda: 2700)
    assert middle.image_size == 80 and middle.epochs >= 12
    # Too slow for 12 epochs at any size: the smallest, with what fits
    small = plan_recipe(config, {"image_size": (64, 96)}, 3200, 800, 5, slow, lambda: 2700)
    assert (small.image_size, small.epochs) == (64, 5)  # 8.7 s of OOF prediction: 520 s of 88 s epochs
    # Time already spent (measuring) leaves less: the same machine now affords a smaller size
    late = plan_recipe(config, {"image_size": (64, 96)}, 3200, 800, 5, fast, lambda: 1500)
    assert late.image_size < 96


def test_widths_are_measured_once_each_and_shown_in_the_line():
    config = TrainConfig(image_size=64, width=1.0, budget=2700, epochs=1000, min_epochs=12)
    measure = _speed(300.0)
    plan = plan_recipe(config, {"image_size": (64, 96), "width": (1.0, 1.5)}, 3200, 800, 5, measure, lambda: 2700)
    assert sorted(measure.calls) == [(64, 1.0), (64, 1.25), (64, 1.5), (80, 1.0), (96, 1.0)]
    assert "width" in plan.line() and plan.epochs >= 12


def test_the_epoch_cap_and_one_fold():
    plan = choose_recipe({(32, 1.0): StepCost(1000.0)}, 600, 1, 1000, 250, 12, 30)
    assert plan == RecipePlan(1, 32, 1.0, 30, 600 * 0.98, ())
    assert measured_costs([(8, 1.0)], lambda s, w: StepCost(5000.0)) == {(8, 1.0): StepCost(5000.0)}


def test_what_a_fold_spends_outside_its_epochs_is_planned_for():
    """The real run that showed the old plan optimistic: 5 folds of 3,200 + 800 images in 45 minutes, 96 px.
    Decoding, tracing and the OOF prediction in two views come off each fold's 529 s before the epochs."""
    bare = StepCost(104.0)
    real = StepCost(104.0, decode_seconds=0.004, start_seconds=8.0)
    fold_seconds = 2700 * 0.98 / 5
    # 529 s less 4.6 s of OOF prediction in one view: 14 epochs of 36.0 s (34.3 s measured, plus 5%)
    assert fold_epochs(bare, fold_seconds, 3200, 800, views=1) == 14
    # 8 s start + 16 s decoding + (2 + 2 x 267 / 104 = 7.1 s) OOF leave 498 s: 13 epochs
    assert fold_epochs(real, fold_seconds, 3200, 800, views=2) == 13
    config = TrainConfig(image_size=64, budget=2700, epochs=1000, min_epochs=14)
    plain = plan_recipe(config, {"image_size": (64, 96)}, 3200, 800, 5, _speed(200.0), lambda: 2700)
    costly = plan_recipe(config, {"image_size": (64, 96)}, 3200, 800, 5, _speed(200.0, decode=0.004, start=8.0),
                         lambda: 2700, views=2)
    assert (plain.image_size, plain.epochs) == (96, 14)
    assert costly.image_size == 80 and costly.epochs >= 14  # 96 px no longer gets 14 epochs


def test_widths_share_the_sizes_decoding_and_the_slowest_start():
    def measure(size, width):
        return StepCost(100.0 / width, decode_seconds=0.001 * size / 64, start_seconds=4.0 * width)

    costs = measured_costs([(64, 1.0), (64, 2.0), (96, 1.0), (96, 2.0)], measure)
    assert costs[(96, 2.0)] == StepCost(50.0, 0.0015, 8.0)


def test_a_range_in_the_train_table_and_what_pins_it():
    defaults = {"image_size": [64, 96], "width": [1.0, 1.5]}
    assert train_ranges(defaults, {}) == {"image_size": (64, 96), "width": (1.0, 1.5)}
    assert train_ranges(defaults, {"image_size": 72}) == {"width": (1.0, 1.5)}  # a flag pins it
    assert train_ranges({"image_size": 64}, {}) == {}  # so does a single value in the table
    config = resolve_config(defaults)
    assert (config.image_size, config.width) == (64, 1.0)  # without --budget: the smallest
    assert resolve_config(defaults, image_size=72).image_size == 72
    with pytest.raises(KagglekitError, match=r"a range is \[smallest, largest\]"):
        resolve_config({"image_size": [64, 80, 96]})
    saved = TrainConfig(image_size=80, width=1.25)
    assert recorded_choice(saved, config, train_ranges(defaults, {})) == config.replace(image_size=80, width=1.25)
    assert recorded_choice(TrainConfig(image_size=200), config, {"image_size": (64, 96)}).image_size == 64


def test_a_competition_file_may_give_a_range():
    check_train_table({"image_size": [64, 96], "width": [1.0, 1.5]})
    with pytest.raises(KagglekitError, match=r"train.image_size = \['a', 'b'\]: a range is"):
        check_train_table({"image_size": ["a", "b"]})
    with pytest.raises(KagglekitError, match="train.model"):
        check_train_table({"model": [1, 2]})  # only sizes and widths may be ranges


def test_a_short_fold_is_said_in_seconds():
    assert RecipePlan(2, 16, 1.0, 4, 19.6).line() == "2 folds x 4 epochs at 16 px, 20 s per fold"
