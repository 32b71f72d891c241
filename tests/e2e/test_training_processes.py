"""Training processes, end to end: a run killed with kill -9 mid-fold resumes where it stopped, and two
`train --fold K` processes share one run folder. Each process imports TensorFlow and trains (tiny sizes)."""

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd

ONE_RUN = ["-c", "demo-digits", "--folds", "2", "--sample", "60", "--run-dir", "r", "--epochs", "1",
           "--image-size", "16", "--model", "bn_cnn_small", "--tta", "1"]


def _kagglekit(*args, cwd):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "kagglekit", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _kill_mid_fold(workdir, args):
    meta = workdir / "run" / "fold_0" / "backup" / "training_metadata.json"
    proc = _kagglekit(*args, cwd=workdir)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if meta.is_file() and json.loads(meta.read_text() or "{}").get("epoch", 0) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "training ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (workdir / "run" / "fold_0" / "result.json").exists()


RESUMABLE = ["train", "-c", "demo-digits", "--folds", "2", "--fold", "0", "--epochs", "6", "--sample", "120",
             "--image-size", "16", "--model", "bn_cnn_small", "--run-dir", "run"]


def test_killed_training_resumes_mid_fold(workdir):
    _kill_mid_fold(workdir, RESUMABLE)
    rerun = _kagglekit(*RESUMABLE, cwd=workdir)
    out, _ = rerun.communicate(timeout=180)
    assert rerun.returncode == 0, out
    assert "fold 0: resuming at epoch" in out
    resumed_at = int(out.split("resuming at epoch ")[1].split()[0])
    assert resumed_at >= 3
    history = pd.read_csv(workdir / "run" / "fold_0" / "history.csv").drop_duplicates("epoch")
    assert list(history["epoch"]) == list(range(len(history)))  # no epoch lost, none trained twice
    assert (workdir / "run" / "fold_0" / "result.json").is_file()
    assert (workdir / "run" / "fold_0" / "best.keras").is_file()
    assert not (workdir / "run" / "fold_0" / "backup").exists()


def test_two_fold_processes_share_one_run_folder(workdir, cli):
    args = [*ONE_RUN, "--epochs", "2", "--quiet"]
    procs = [_kagglekit("train", *args, "--fold", str(k), "--no-report", cwd=workdir) for k in (0, 1)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert sorted(p.parent.name for p in (workdir / "r").glob("fold_*/result.json")) == ["fold_0", "fold_1"]
    assert not list((workdir / "r").rglob("*.partial*"))
    code, out, err = cli("predict", "-c", "demo-digits", "--run-dir", "r")
    assert code == 0, err
    assert "folds [0, 1]" in out
