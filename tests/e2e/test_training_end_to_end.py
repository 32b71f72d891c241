"""Training end to end, slow enough for this tier: fine-tuning a backbone from the command line, the
automatic precision measured on real training steps, recorded in the run and kept on resume, and a real
run with a budget far too short for its epochs. Their pieces
are covered quickly in tests/integration (test_finetune.py, test_budget.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from kernel_fixtures import BACKBONE_SIZE as SIZE

from kagglekit.core.config import resolve_config


def test_fine_tuning_runs_from_the_command_line(weights_file, workdir, cli):
    args = ["train", "-c", "demo-digits", "--model", "mobilenet_v3_small", "--weights", weights_file,
            "--image-size", str(SIZE), "--head-epochs", "1", "--epochs", "2", "--sample", "60", "--folds", "2",
            "--fold", "0", "--tta", "1", "--batch-size", "16", "--run-dir", "ft", "--no-report"]
    code, out, err = cli(*args)
    assert code == 0, err
    assert "fine-tuning, stage 1: 1 epochs of the head alone" in err and "fine-tuning, stage 2: all layers" in err
    assert (workdir / "ft" / "fold_0" / "head.weights.h5").is_file()
    assert (workdir / "ft" / "fold_0" / "result.json").is_file()


def test_auto_precision_is_measured_recorded_and_kept_on_resume(workdir, caplog):
    from kagglekit.competition.definition import load_competition
    from kagglekit.competition.demo import write_demo_competition
    from kagglekit.data.catalog import build_catalog
    from kagglekit.runs.folder import RunFolder
    from kagglekit.training.fold import run_precision

    comp = load_competition("demo-digits")
    catalog = build_catalog(comp, write_demo_competition(workdir / "digits"), with_test=False)
    config = resolve_config(comp.train_defaults, model="bn_cnn_small", image_size=16, batch_size=16, epochs=1000,
                            precision="auto")
    run = RunFolder(workdir / "run")
    run.path.mkdir()
    with caplog.at_level("INFO", logger="kagglekit"):
        chosen = run_precision(comp, config, catalog.train.head(200), run)
    assert set(chosen.measured) == {"float32", "float32+xla", "mixed_bfloat16", "mixed_bfloat16+xla"}
    assert all(v > 0 for v in chosen.measured.values())
    assert chosen.name in chosen.measured and f"precision auto: {chosen.name}" in caplog.text
    assert json.loads(run.record.read_text())["precision"]["policy"] == chosen.policy  # in the run's record
    caplog.clear()
    with caplog.at_level("INFO", logger="kagglekit"):
        again = run_precision(comp, config, catalog.train.head(200), run)
    assert again == chosen and "timing a few training steps" not in caplog.text  # a resume trains as it started
    short = resolve_config(comp.train_defaults, model="bn_cnn_small", image_size=16, epochs=2)
    assert run_precision(comp, short, catalog.train.head(200), RunFolder(workdir / "short")).name == "float32"


def test_budget_far_too_short_still_ends_in_time_with_a_usable_run(workdir, cli):
    budget = 20
    code, out, err = cli("train", "-c", "demo-digits", "--folds", "2", "--epochs", "50", "--budget", f"{budget}s",
                         "--image-size", "16", "--model", "bn_cnn_small", "--sample", "100", "--no-report")
    assert code == 0, err
    # Without a budget the 2 x 50 epochs take minutes here: the folds' own records must show that the plan cut
    # their epochs. (That a plan ends by its deadline is checked on a simulated clock below, never on this one.)
    run = Path(out.split("run folder: ")[1].split()[0])
    results = [json.loads(p.read_text()) for p in run.glob("fold_*/result.json")]
    assert results and all(r["epochs_run"] < 50 for r in results)
    shown = [int(n) for n in re.findall(r"epoch \d+/(\d+)", err)]
    assert shown and min(shown) < 50  # once planned, progress counts the plan's epochs, not --epochs
    scores = json.loads((run / "scores.json").read_text())
    assert scores["n_oof"] > 0 and scores["folds"]
    assert json.loads((run / "config.json").read_text())["budget"] == budget
    summary = next(line for line in err.splitlines() if line.startswith("INFO: time budget 20s:"))
    assert "used (fold 0 " in summary and "left unused" in summary  # how the budget was spent
    code, out, err = cli("predict", "-c", "demo-digits", "--run-dir", run, "--out", "sub.csv", "--tta", "1")
    assert code == 0, err
    assert len(pd.read_csv(workdir / "sub.csv")) == 300
