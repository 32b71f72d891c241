"""--budget: duration parsing, schedules, and plans on a simulated clock (a real run inside a budget far
too short for its epochs is in tests/e2e/test_training_end_to_end.py)."""

import pytest

from kagglekit.core.config import parse_duration, resolve_config
from kagglekit.core.errors import KagglekitError
from kagglekit.training.budget import fold_deadline
from kagglekit.training.schedules import learning_rate_at


@pytest.mark.parametrize("text, seconds", [
    ("45m", 2700), ("2h", 7200), ("8h30m", 30600), ("90s", 90), ("1.5h", 5400), ("1h 5m 3s", 3903), ("20S", 20),
])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "45", "m", "5x", "2h2h", "1m2", "-5m", "0m", "h30m"])
def test_parse_duration_rejects_what_it_cannot_read(text):
    with pytest.raises(KagglekitError, match="45m"):
        parse_duration(text)


def test_budget_in_the_competition_file_may_be_a_duration():
    assert resolve_config({"budget": "1h30m"}).budget == 5400
    assert resolve_config({"budget": "1h30m"}, budget=60.0).budget == 60.0  # the flag wins
    with pytest.raises(KagglekitError, match="schedule"):
        resolve_config({"schedule": "linear"})


def test_schedules_warm_up_then_anneal():
    cosine = [learning_rate_at("cosine", 1e-3, s, 100, 0.1) for s in range(100)]
    assert cosine[0] < cosine[5] < cosine[9] == pytest.approx(1e-3)
    assert cosine[50] < cosine[20] and cosine[-1] < 1e-5
    onecycle = [learning_rate_at("onecycle", 1e-3, s, 100, 0.0) for s in range(100)]
    assert onecycle[0] < 1e-3 / 10 and max(onecycle) == pytest.approx(1e-3)
    assert onecycle.index(max(onecycle)) == 29 and onecycle[-1] < 1e-5


def test_folds_share_what_is_left():
    now = 1000.0
    assert fold_deadline(now + 100, 4, now) == pytest.approx(now + 100 * 0.98 / 4)
    assert fold_deadline(now + 100, 1, now) < now + 100  # a margin is kept for the end of the run


def test_bad_budget_is_one_clear_line(workdir, cli):
    code, out, err = cli("train", "-c", "demo-digits", "--budget", "soon")
    assert code == 1 and "cannot read the duration 'soon'" in err


def test_with_a_budget_the_plan_decides_the_epochs_not_the_competition_file():
    from kagglekit.core.config import BUDGET_MAX_EPOCHS

    table = {"epochs": 40, "budget": "45m"}  # a competition's [train] table
    assert resolve_config(table).epochs == BUDGET_MAX_EPOCHS  # the plan, not the file's 40, ends the folds
    assert resolve_config({"epochs": 40}).epochs == 40  # without a budget the file's epochs decide
    assert resolve_config(table, epochs=12).epochs == 12  # --epochs on the command line still caps the plan
    assert resolve_config({"epochs": 40}, budget="10m").epochs == BUDGET_MAX_EPOCHS


def test_budget_summary_says_how_the_time_went():
    from kagglekit.runs.records import FoldResult
    from kagglekit.training.crossval import budget_summary

    folds = [FoldResult(fold=k, score=0.5, accuracy=0.5, metric="accuracy", epochs_run=e, seconds=s)
             for k, e, s in ((0, 27, 520.0), (1, 25, 500.0))]
    line = budget_summary(2700, 1000.0, folds, now=1000.0 + 2000)
    assert line == ("time budget 45m00s: 33m20s used (fold 0 27 epochs in 8m40s, fold 1 25 epochs in 8m20s); "
                    "11m40s left unused")


# -- --precision auto: measured on the CPU ---------------------------------------------------------

def _speed(policy, jit, ips, loss):
    from kagglekit.training.devices import StepSpeed

    return StepSpeed(policy, jit, ips, loss)


def test_auto_precision_keeps_bfloat16_when_it_is_faster_and_sound():
    from kagglekit.training.devices import choose_fastest

    found = choose_fastest([_speed("float32", False, 381, 0.70), _speed("float32", True, 331, 0.70),
                            _speed("mixed_bfloat16", False, 470, 0.71), _speed("mixed_bfloat16", True, 304, 0.71)])
    assert (found.policy, found.jit) == ("mixed_bfloat16", False)


def test_auto_precision_refuses_bfloat16_when_slower_or_unsound():
    from kagglekit.training.devices import choose_fastest

    slower = [_speed("float32", False, 380, 0.70), _speed("float32", True, 420, 0.70),
              _speed("mixed_bfloat16", False, 90, 0.70), _speed("mixed_bfloat16", True, 60, 0.70)]
    assert choose_fastest(slower).name == "float32+xla"  # emulated bfloat16: XLA float32 wins
    diverged = [_speed("float32", False, 380, 0.70), _speed("float32", True, 300, 0.70),
                _speed("mixed_bfloat16", False, 900, 1.30), _speed("mixed_bfloat16", True, 950, float("nan"))]
    assert choose_fastest(diverged).name == "float32"  # fast but not the same training: not taken


# -- FoldPlan on a simulated clock ----------------------------------------------------------------

def _run_plan(monkeypatch, deadline: float, cycle) -> tuple[int, float, list[int]]:
    """Drive a FoldPlan of 100 steps per epoch through epochs whose training and validation take
    CYCLE(epoch) = (seconds per step, seconds of validation) on a fake clock; the first step of
    the first epoch also traces (20 s). Returns (epochs run, when it ended, the plan after each epoch)."""
    import types

    from kagglekit.training import budget

    clock = [0.0]
    monkeypatch.setattr(budget.time, "time", lambda: clock[0])
    plan = budget.FoldPlan(1000, 100, deadline)
    plan.set_model(types.SimpleNamespace(stop_training=False))
    plan.on_train_begin()
    plans, epoch = [], 0
    while not plan.model.stop_training:
        step, val = cycle(epoch)
        plan.on_epoch_begin(epoch)
        for batch in range(100):
            clock[0] += step + (20.0 if epoch == 0 and batch == 0 else 0.0)
            plan.on_train_batch_end(batch)
            if plan.model.stop_training:
                break
        plan.on_test_begin()
        clock[0] += val
        plan.on_test_end()
        plan.on_epoch_end(epoch)
        plans.append(plan.planned)
        epoch += 1
    return epoch, clock[0], plans


def test_a_slow_first_epoch_does_not_leave_the_folds_time_unused(monkeypatch):
    # Measured on 1 Dec 2026: the first epoch (XLA compilation, image cache filling) took 88 s, the
    # next ones 39 s; the plan made from the first cycle (4 epochs) could not lengthen any more, and
    # the fold ended after 204 of its ~500 s.
    slow_start = lambda epoch: (0.5, 18.5) if epoch == 0 else (0.3, 9.0)  # noqa: E731
    epochs, ended, plans = _run_plan(monkeypatch, 540.0, slow_start)
    assert epochs >= 11, plans
    assert ended <= 540.0


def test_a_plan_does_not_lengthen_after_its_warm_up_when_the_machine_gets_quieter(monkeypatch):
    quieter = lambda epoch: (0.5, 18.5) if epoch == 0 else (0.3, 9.0) if epoch < 6 else (0.1, 3.0)  # noqa: E731
    epochs, ended, plans = _run_plan(monkeypatch, 540.0, quieter)
    assert plans[2] == plans[-1] == epochs  # fixed from the second epoch's time on; the rest goes to later folds
    assert ended < 450.0


def test_the_plan_measures_steps_decoding_and_start_on_real_photos(workdir, dogs_dir):
    """step_speed on real JPEGs: the augmenting pipeline feeds the timed steps, and the fold's one-off costs
    (decoding into the cache, building and tracing) are measured too, so the plan can hold them back."""
    from kagglekit.competition.definition import load_competition
    from kagglekit.data.catalog import build_catalog
    from kagglekit.training.recipe import StepCost, choose_recipe, fold_epochs, step_speed

    comp = load_competition("dogs-vs-cats")
    catalog = build_catalog(comp, dogs_dir, with_test=False)
    config = resolve_config({"model": "bn_cnn_small", "batch_size": 8, "augment": "medium"})
    measure = step_speed(comp, config, catalog.train.head(40))  # float32, as for --precision float32
    cost = measure(32, 1.0)
    assert isinstance(cost, StepCost)
    assert cost.images_per_second > 0 and cost.decode_seconds > 0 and cost.start_seconds > 0
    bare = StepCost(cost.images_per_second)
    # The same rate with its one-off costs leaves fewer epochs in a short fold than the steps alone would
    fold = 10 * cost.start_seconds
    assert fold_epochs(cost, fold, 200, 50, views=2) < fold_epochs(bare, fold, 200, 50, views=2)
    plan = choose_recipe({(32, 1.0): cost}, 600, 2, 200, 50, 1, 30, views=2)
    assert plan.image_size == 32 and 1 <= plan.epochs <= 30


def test_the_precision_the_plan_measured_is_the_runs(workdir):
    """train_run hands the plan's precision to the folds: recorded as the run's, so fold 0 does not choose
    (and with --precision auto on a long run, measure) again out of its share of the budget."""
    from kagglekit.competition.definition import load_competition
    from kagglekit.competition.demo import write_demo_competition
    from kagglekit.data.catalog import build_catalog
    from kagglekit.runs.folder import RunFolder
    from kagglekit.training.crossval import train_folds
    from kagglekit.training.devices import Precision

    comp = load_competition("demo-digits")
    data = write_demo_competition(workdir / "demo")
    catalog = build_catalog(comp, data)
    catalog = catalog.__class__(**{**vars(catalog), "train": catalog.train.head(60)})
    config = resolve_config({**comp.train_defaults, "folds": 2, "epochs": 1, "image_size": 8, "tta": 1,
                             "precision": "auto"})
    planned = Precision("mixed_bfloat16", False, {"float32": 100.0, "mixed_bfloat16": 150.0})
    run_dir, _ = train_folds(catalog, config, data, workdir / "run", precision=planned)
    # Without it this short run would train in float32, chosen without a measurement
    assert Precision.from_json(RunFolder(run_dir).read_precision()) == planned
