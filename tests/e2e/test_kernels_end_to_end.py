"""Real kagglekit kernels, end to end: the script run as Kaggle runs it (and a rerun that resumes), a session
pushed to the sandbox, trained and scored, a fan-out of fold kernels merged into one run, the fan-out under
Kaggle's session cap, and training over two devices. Each session imports TensorFlow and trains (tiny sizes)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pandas as pd
from kernel_fixtures import (DEMO, DEMO_TINY, DOGS, ROOT, build, kaggle_layout, push_folds_against_a_cap_of_two, read_only, run_script,
                             snapshot)

TINY = ["--folds", "2", "--epochs", "1", "--image-size", "32", "--sample", "60", "--tta", "1", "--batch-size", "16"]


def test_script_runs_in_a_kaggle_layout_and_a_rerun_resumes(cli, kernel_env, dogs_dir, kernel_cache):
    code, out, err = cli("kernel", "build", "-c", DOGS, *TINY, "--owner", "kaggler", "--name", "dogs-tiny",
                         "--resume-from", "kaggler/dogs-tiny")
    assert code == 0, err
    script = kernel_env / "kernels" / "dogs-tiny" / "dogs-tiny.py"
    first = kaggle_layout(kernel_env / "session1", dogs_dir)
    read_only(first / "input")
    before = snapshot(first / "input")

    done = run_script(script, first, kernel_cache)
    assert done.returncode == 0, done.stderr[-3000:]
    working = first / "working"
    assert snapshot(first / "input") == before  # nothing written into the read-only input
    assert f"(from {first / 'tmp'}/kagglekit-src-" in done.stderr  # its own copy of kagglekit, not the installed one
    for name in ("config.json", "run.json", "folds.csv", "oof.csv", "scores.json", "submission.csv", "kagglekit.log",
                 "fold_0/best.keras", "fold_0/oof.csv", "fold_0/result.json", "fold_1/result.json"):
        assert (working / name).is_file(), name
    assert not list(working.rglob("*.zip"))  # archives were extracted into the cache, not the output
    code, out, err = cli("validate", working / "submission.csv", "-c", DOGS, "--data-dir", dogs_dir)
    assert code == 0, err
    assert "valid submission" in out and "1000 rows" in out

    # The next version: the first one's output (its session ended during fold 2) is mounted as an input.
    second = kaggle_layout(kernel_env / "session2", dogs_dir)
    earlier = second / "input" / "dogs-tiny"
    shutil.copytree(working, earlier)
    shutil.rmtree(earlier / "fold_1")
    read_only(second / "input")
    done = run_script(script, second, kernel_cache)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "fold 1/2 already trained; skipping" in done.stderr
    assert "fold 2/2: 30 training" in done.stderr  # only the missing fold was trained
    again = second / "working"
    assert (again / "fold_0" / "best.keras").read_bytes() == (working / "fold_0" / "best.keras").read_bytes()
    assert (again / "fold_1" / "result.json").is_file() and (again / "submission.csv").is_file()


def test_push_status_output_then_submit_scores(cli, kernel_env, kernel_sandbox):
    _, out = build(cli, "digits-tiny", "--fold", "0")  # owner from the (sandbox's) credentials
    assert "kaggler/digits-tiny" in out
    code, out, err = cli("kernel", "push", "digits-tiny")
    assert code == 0, err
    assert "pushed kaggler/digits-tiny (version 1): https://www.kaggle.com/code/kaggler/digits-tiny" in out

    code, out, err = cli("kernel", "status", "digits-tiny", "--wait", "-q")
    assert code == 0, err
    assert "kaggler/digits-tiny: complete" in out

    kernel_sandbox.max_output_page = 5  # the outputs come in three pages: all of them must arrive
    code, out, err = cli("kernel", "output", "digits-tiny", "-q")
    assert code == 0, err
    run = kernel_env / "runs" / DEMO / "digits-tiny"
    session = kernel_sandbox.sessions_dir / "kernels" / "kaggler" / "digits-tiny" / "1" / "working"
    produced = sorted(str(p.relative_to(session)) for p in session.rglob("*") if p.is_file())
    assert len(produced) > 10
    assert f"kaggler/digits-tiny: {len(produced) + 1} files into" in out  # + the log
    assert all((run / name).is_file() for name in produced)
    for name in ("submission.csv", "fold_0/best.keras", "fold_0/oof.csv", "oof.csv", "scores.json", "digits-tiny.log"):
        assert (run / name).is_file(), name
    log = (run / "digits-tiny.log").read_text()
    assert "/kagglekit-src-" in log and "done in" in log
    info = json.loads((run / "run.json").read_text())
    assert info["data_dir"] == str((kernel_env / "data" / DEMO).resolve()) and info["kernel"] == "kaggler/digits-tiny"

    code, out, err = cli("submit", run / "submission.csv", "-c", DEMO, "-m", "from a kernel", "--wait", "-q",
                         "--data-dir", kernel_sandbox.cache_dir / DEMO)
    assert code == 0, err
    assert "public score:" in out and "(not published)" not in out


def test_fan_out_three_folds_then_ensemble_is_a_run_folder(cli, kernel_env, kernel_sandbox):
    from kagglekit.competition.definition import load_competition
    from kagglekit.core.config import resolve_config
    from kagglekit.data.catalog import build_catalog
    from kagglekit.training.crossval import assign_folds

    code, out, err = cli("kernel", "build", "-c", DEMO, "--folds", "3", "--epochs", "1", "--image-size", "16",
                         "--model", "bn_cnn_small", "--sample", "60", "--tta", "1", "--name", "digits-fan")
    assert code == 0, err
    kernel_sandbox.max_kernel_sessions = 2
    code, out, err = cli("kernel", "push", "digits-fan", "--folds-parallel", "--max-concurrent", "2", "-q")
    assert code == 0, err
    assert [line.split()[1] for line in out.splitlines() if line.startswith("pushed")] == [
        "kaggler/digits-fan-fold0", "kaggler/digits-fan-fold1", "kaggler/digits-fan-fold2"]
    code, out, err = cli("kernel", "status", "digits-fan", "--wait", "-q")
    assert code == 0, err
    code, out, err = cli("kernel", "output", "digits-fan", "-q")
    assert code == 0, err
    runs = [kernel_env / "runs" / DEMO / f"digits-fan-fold{k}" for k in range(3)]
    assert all(not (r / "submission.csv").exists() for r in runs)  # fold kernels train only

    merged = kernel_env / "runs" / DEMO / "digits-fan"
    code, out, err = cli("ensemble", *runs, "--out", merged, "-q")
    assert code == 0, err
    assert "folds 0, 1, 2" in out
    layout = sorted(str(p.relative_to(merged)) for p in merged.rglob("*") if p.is_file())
    assert layout == sorted(["config.json", "run.json", "folds.csv", "oof.csv", "scores.json"] + [
        f"fold_{k}/{f}" for k in range(3) for f in ("best.keras", "history.csv", "oof.csv", "result.json")])
    comp = load_competition(DEMO)
    config = resolve_config(comp.train_defaults, folds=3, sample=60, image_size=16, model="bn_cnn_small")
    local = assign_folds(build_catalog(comp, kernel_sandbox.cache_dir / DEMO, with_test=False).train, config)
    assert pd.read_csv(merged / "folds.csv", dtype={"id": str}).equals(local)  # the folds a local 3-fold run trains
    scores = json.loads((merged / "scores.json").read_text())
    assert sorted(scores["folds"]) == ["0", "1", "2"] and scores["n_oof"] == 60
    assert json.loads((merged / "config.json").read_text())["fold"] is None

    code, out, err = cli("predict", "--run-dir", merged, "--data-dir", kernel_sandbox.cache_dir / DEMO, "-q")
    assert code == 0, err
    assert "folds [0, 1, 2]" in out

    code, out, err = cli("ensemble", runs[0], merged, "--out", kernel_env / "again", "-q")
    assert code == 1 and "fold 0 is in both" in err
    odd = kernel_env / "odd"
    shutil.copytree(runs[1], odd)
    config_file = odd / "config.json"
    config_file.write_text(config_file.read_text().replace('"image_size": 16', '"image_size": 24'))
    code, out, err = cli("ensemble", runs[0], odd, "--out", kernel_env / "again", "-q")
    assert code == 1 and "image_size=24" in err


MIRRORED = r"""
import logging, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from kagglekit.training.devices import choose_strategy
strategy = choose_strategy()
print("strategy", type(strategy).__name__, strategy.num_replicas_in_sync)
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
from kagglekit.competition.definition import load_competition
from kagglekit.core.config import resolve_config
from kagglekit.data.catalog import build_catalog
from kagglekit.training.crossval import train_folds
comp = load_competition(sys.argv[1])
config = resolve_config(comp.train_defaults, folds=2, fold=0, epochs=1, image_size=32, batch_size=4, tta=1)
run, scores = train_folds(build_catalog(comp, sys.argv[2], with_test=False), config, sys.argv[2], sys.argv[3])
print("folds", sorted(scores["folds"]))
"""


def test_mirrored_strategy_over_two_logical_cpus(workdir, folders_competition):
    # Logical devices must be set up before TensorFlow initializes: a process of its own.
    done = subprocess.run([sys.executable, "-c", MIRRORED, str(folders_competition), str(workdir / "pets"),
                           str(workdir / "run")], cwd=workdir, capture_output=True, text=True, timeout=240,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "strategy MirroredStrategy 2" in done.stdout
    assert "training on 2 replicas (MirroredStrategy), global batch 8, precision float32" in done.stdout
    assert "folds ['0']" in done.stdout
    assert (workdir / "run" / "fold_0" / "best.keras").is_file()


def test_four_folds_against_a_cap_of_two_sessions_all_finish(cli, session_env, workdir):
    sandbox = session_env
    sandbox.max_kernel_sessions = 2
    code, out, err = cli("kernel", "build", "-c", DEMO, "--folds", "4", *DEMO_TINY, "--gpu", "NvidiaTeslaT4",
                         "--name", "digits-capped")
    assert code == 0, err
    push_folds_against_a_cap_of_two(cli, "digits-capped", 4)
    refusals = [v for k in range(4) for v in sandbox.store.data["kernels"][f"kaggler/digits-capped-fold{k}"]["versions"]]
    assert len(refusals) == 4  # a refused push made no version

    code, out, err = cli("kernel", "status", "digits-capped", "--wait", "-q")
    assert code == 0, err
    assert sorted(line for line in out.splitlines() if line.endswith("complete")) == [
        f"kaggler/digits-capped-fold{k}: complete" for k in range(4)]
    code, out, err = cli("kernel", "output", "digits-capped", "-q")
    assert code == 0, err
    runs = [workdir / "runs" / DEMO / f"digits-capped-fold{k}" for k in range(4)]
    for run in runs:
        info = json.loads((run / "run.json").read_text())
        assert (info["kernel_version"], info["accelerator"]) == (1, "NvidiaTeslaT4")
    code, out, err = cli("ensemble", *runs, "--out", workdir / "runs" / DEMO / "digits-capped", "-q")
    assert code == 0, err
    code, out, err = cli("runs", "-c", DEMO)
    assert code == 0, err
    rows = {line.split()[0]: line.rstrip() for line in out.splitlines()[1:]}
    assert rows["demo-digits/digits-capped"].endswith("ensemble of 4 runs")
    assert rows["demo-digits/digits-capped-fold3"].endswith("kaggler/digits-capped-fold3 v1 NvidiaTeslaT4")


def test_a_notebook_kernel_runs_in_the_sandbox_and_its_figures_come_home(cli, kernel_env, kernel_sandbox):
    """`kernel build --notebook`, then push, status, output as for a script: the sandbox executes the notebook
    cell by cell, and the executed notebook comes home with the run, its figures cell holding the report's PNGs."""
    import nbformat

    build(cli, "digits-nbk", "--fold", "0", "--notebook")
    code, out, err = cli("kernel", "push", "digits-nbk")
    assert code == 0, err
    code, out, err = cli("kernel", "status", "digits-nbk", "--wait", "-q")
    assert code == 0, err
    assert "kaggler/digits-nbk: complete" in out
    code, out, err = cli("kernel", "output", "digits-nbk", "-q")
    assert code == 0, err
    run = kernel_env / "runs" / DEMO / "digits-nbk"
    for name in ("submission.csv", "fold_0/best.keras", "oof.csv", "__notebook__.ipynb"):
        assert (run / name).is_file(), name
    executed = nbformat.read(run / "__notebook__.ipynb", as_version=4)
    figures = executed.cells[-1]
    pngs = [o for o in figures.outputs if "image/png" in (o.get("data") or {})]
    assert len(pngs) == len(list((run / "report").glob("*.png"))) >= 4
