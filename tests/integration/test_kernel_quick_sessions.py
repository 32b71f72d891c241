"""Push, status, output, submit and the fan-out through the sandbox, with quick session scripts (no training).

kagglekit builds the kernel folders as usual; the test swaps in a script of its own that writes what a real
kagglekit kernel writes (a run folder, a submission), so every step around the session runs for real with
the stock client in seconds. tests/e2e/test_kernels_end_to_end.py runs the same paths with real kernels.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
from kernel_fixtures import DEMO, DEMO_TINY, build, push_folds_against_a_cap_of_two
from sklearn.metrics import log_loss

# A session that copies the sample submission it finds in its input (uniform probabilities) into its output.
COPIES_SAMPLE = textwrap.dedent('''
    import os, shutil
    inp, out = os.environ["KAGGLEKIT_KAGGLE_INPUT"], os.environ["KAGGLEKIT_KAGGLE_WORKING"]
    shutil.copyfile(os.path.join(inp, "demo-digits", "sample_submission.csv"), os.path.join(out, "submission.csv"))
    for name in ("config.json", "run.json"):
        open(os.path.join(out, name), "w").write({records}[name])
    print("wrote submission.csv")
''')

# Fold K of a fan-out: the run folder a fold kernel writes (settings, fold assignment, the fold's result and OOF).
# It takes a few seconds, so that the next folds meet the session cap while it runs.
FOLD_WRITER = textwrap.dedent('''
    import json, os, time
    time.sleep(4)
    out = os.environ["KAGGLEKIT_KAGGLE_WORKING"]
    os.makedirs(os.path.join(out, "fold_{k}"), exist_ok=True)
    files = {{"config.json": {config!r}, "run.json": {run!r}, "folds.csv": {folds!r},
             "fold_{k}/result.json": json.dumps({{"fold": {k}, "score": 0.5, "accuracy": 0.5, "metric": "log_loss",
                                                 "epochs_run": 1, "seconds": 1.0, "settings": json.loads({config!r})}}),
             "fold_{k}/oof.csv": {oof!r}}}
    for name, text in files.items():
        with open(os.path.join(out, name), "w") as fh:
            fh.write(text)
    print("fold {k} written")
''')


def records(folder: Path) -> dict:
    """config.json and run.json as the kagglekit kernel built in FOLDER would write them."""
    import dataclasses

    from kagglekit.core.config import config_to_json
    from kagglekit.kernels.build import spec_from_folder

    config = dataclasses.replace(spec_from_folder(folder).config, fold=None)
    return {"config.json": json.dumps(config_to_json(config)),
            "run.json": json.dumps({"competition": DEMO, "data_dir": f"/kaggle/input/{DEMO}"})}


def test_push_status_output_then_submit_scores_a_quick_session(cli, workdir, session_env):
    folder, out = build(cli, "digits-quick", "--fold", "0")
    (folder / "digits-quick.py").write_text(COPIES_SAMPLE.format(records=records(folder)))
    code, out, err = cli("kernel", "push", "digits-quick")
    assert code == 0, err
    assert "pushed kaggler/digits-quick (version 1)" in out
    code, out, err = cli("kernel", "status", "digits-quick", "--wait", "-q")
    assert code == 0 and "kaggler/digits-quick: complete" in out, err
    code, out, err = cli("kernel", "output", "digits-quick", "-q")
    assert code == 0, err
    run = workdir / "runs" / DEMO / "digits-quick"
    assert "wrote submission.csv" in (run / "digits-quick.log").read_text()
    info = json.loads((run / "run.json").read_text())
    assert info["kernel"] == "kaggler/digits-quick" and info["data_dir"] == str((workdir / "data" / DEMO).resolve())

    code, out, err = cli("submit", run / "submission.csv", "-c", DEMO, "-m", "quick", "--wait", "-q",
                         "--data-dir", session_env.cache_dir / DEMO)
    assert code == 0, err
    solution = pd.read_csv(session_env.bundles[DEMO].solution, dtype={"id": str})
    uniform = np.full((len(solution), 10), 0.1)  # the sample submission's probabilities
    expected = log_loss(solution["label"].astype(int), uniform, labels=list(range(10)))
    assert f"public score: {expected:.5f}" in out


def quick_fold_kernels(monkeypatch, comp_dir: Path, n_folds: int) -> None:
    """Make the fan-out build each fold kernel as usual, then swap a quick FOLD_WRITER into its folder."""
    import kagglekit.kernels.remote as remote

    ids = sorted(p.stem for p in (comp_dir / "train").glob("*.png"))[:12]
    folds = "id,fold\n" + "".join(f"{i},{n % n_folds}\n" for n, i in enumerate(ids))
    real_build = remote.build_kernel

    def build_then_swap(spec, out_root):
        folder = real_build(spec, out_root)
        k, rec = spec.config.fold, records(folder)
        rows = [i for n, i in enumerate(ids) if n % n_folds == k]
        oof = "id,fold,label," + ",".join(f"p_{d}" for d in range(10)) + "\n" + "".join(
            f"{i},{k},{n % 10}," + ",".join(["0.1"] * 10) + "\n" for n, i in enumerate(rows))
        (folder / f"{folder.name}.py").write_text(FOLD_WRITER.format(
            k=k, config=rec["config.json"], run=rec["run.json"], folds=folds, oof=oof))
        return folder

    monkeypatch.setattr(remote, "build_kernel", build_then_swap)


def test_four_fold_kernels_against_a_cap_of_two_all_finish_and_merge(cli, workdir, session_env, monkeypatch):
    session_env.max_kernel_sessions = 2
    code, out, err = cli("kernel", "build", "-c", DEMO, "--folds", "4", *DEMO_TINY, "--gpu", "NvidiaTeslaT4",
                         "--name", "digits-quick-fan")
    assert code == 0, err
    quick_fold_kernels(monkeypatch, session_env.cache_dir / DEMO, 4)
    push_folds_against_a_cap_of_two(cli, "digits-quick-fan", 4)

    code, out, err = cli("kernel", "status", "digits-quick-fan", "--wait", "-q")
    assert code == 0, err
    assert sorted(line for line in out.splitlines() if line.endswith("complete")) == [
        f"kaggler/digits-quick-fan-fold{k}: complete" for k in range(4)]
    code, out, err = cli("kernel", "output", "digits-quick-fan", "-q")
    assert code == 0, err
    runs = [workdir / "runs" / DEMO / f"digits-quick-fan-fold{k}" for k in range(4)]
    for k, run in enumerate(runs):
        info = json.loads((run / "run.json").read_text())
        assert (info["kernel_version"], info["accelerator"]) == (1, "NvidiaTeslaT4")
        assert (run / f"fold_{k}" / "result.json").is_file() and not (run / "submission.csv").exists()
    merged = workdir / "runs" / DEMO / "digits-quick-fan"
    code, out, err = cli("ensemble", *runs, "--out", merged, "-q")
    assert code == 0, err
    assert "folds 0, 1, 2, 3" in out
    scores = json.loads((merged / "scores.json").read_text())
    assert sorted(scores["folds"]) == ["0", "1", "2", "3"] and scores["n_oof"] == 12
    code, out, err = cli("runs", "-c", DEMO)
    assert code == 0, err
    rows = {line.split()[0]: line.rstrip() for line in out.splitlines()[1:]}
    assert rows["demo-digits/digits-quick-fan"].endswith("ensemble of 4 runs")
