"""Fixtures and helpers for tests that build kernels and run their sessions in the sandbox.

Registered with ``pytest_plugins = ["sandbox_fixtures", "kernel_fixtures"]`` by the integration tests (quick
session scripts of their own, no training) and the end-to-end tests (real kagglekit kernels that train).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOGS = "dogs-vs-cats"
DEMO = "demo-digits"
CODE = "demo-digits-code"
# A demo-digits kernel that trains for seconds: 2 folds of 60 images at 16 px.
DEMO_TINY = ["--epochs", "1", "--image-size", "16", "--model", "bn_cnn_small", "--sample", "60", "--tta", "1"]


@pytest.fixture(scope="session")
def kernel_cache(tmp_path_factory) -> Path:
    """One extraction cache for every kernel run of the session (the zips are the same)."""
    return tmp_path_factory.mktemp("kernel-cache")


@pytest.fixture
def kernel_env(workdir, kernel_cache, monkeypatch) -> Path:
    monkeypatch.setenv("KAGGLEKIT_CACHE", str(kernel_cache))
    monkeypatch.setenv("KAGGLEKIT_KERNEL_POLL", "0.5")
    return workdir


def read_only(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            path.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)


def kaggle_layout(root: Path, dogs_dir: Path) -> Path:
    """ROOT/input/dogs-vs-cats/ with the competition's files as published (read-only) and ROOT/working/."""
    comp = root / "input" / DOGS
    comp.mkdir(parents=True)
    for name in ("train.zip", "test1.zip", "sampleSubmission.csv"):
        (comp / name).symlink_to(dogs_dir / name)
    (root / "working").mkdir()
    return root


def run_script(script: Path, root: Path, cache: Path) -> subprocess.CompletedProcess:
    """The kernel script run with Python alone, as Kaggle runs it (roots moved into ROOT)."""
    env = {"PATH": os.environ["PATH"], "HOME": str(root), "KAGGLE_KERNEL_RUN_TYPE": "Batch",
           "KAGGLEKIT_KAGGLE_INPUT": str(root / "input"), "KAGGLEKIT_KAGGLE_WORKING": str(root / "working"),
           "KAGGLEKIT_KERNEL_TMP": str(root / "tmp"), "KAGGLEKIT_CACHE": str(cache), "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, str(script)], cwd=root / "working", env=env, capture_output=True,
                          text=True, timeout=300)


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.lstat().st_mtime_ns, p.lstat().st_size) for p in folder.rglob("*")}


@pytest.fixture
def kernel_sandbox(make_sandbox, kernel_env, dogs_dir):
    server = make_sandbox(dogs_dir)  # stopped (its sessions killed) by make_sandbox
    (kernel_env / "data").mkdir()
    (kernel_env / "data" / DOGS).symlink_to(dogs_dir)
    return server


@pytest.fixture
def session_env(workdir, make_sandbox, monkeypatch, tmp_path_factory):
    monkeypatch.setenv("KAGGLEKIT_KERNEL_POLL", "0.2")
    monkeypatch.setenv("KAGGLEKIT_CACHE", str(tmp_path_factory.getbasetemp() / "kernel-sessions-cache"))
    return make_sandbox()


def build(cli, name: str, *extra: str, script: str | None = None) -> tuple[Path, str]:
    """`kagglekit kernel build` of a tiny demo-digits kernel NAME: its folder and what the command printed.

    With SCRIPT, the folder as built but with a script of the test's own (a quick session, no training)."""
    code, out, err = cli("kernel", "build", "-c", DEMO, "--folds", "2", *DEMO_TINY, "--name", name, *extra)
    assert code == 0, err
    folder = Path("kernels") / name
    if script is not None:  # the folder as built, with a script of the test's own
        (folder / f"{name}.py").write_text(script)
    return folder, out


def working(sandbox, slug: str, version: int) -> Path:
    return sandbox.sessions_dir / "kernels" / "kaggler" / slug / str(version) / "working"


def wait_until(check, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("timed out")


def session_status(sandbox, slug: str, version: int) -> str:
    return next(v["status"] for v in sandbox.store.data["kernels"][f"kaggler/{slug}"]["versions"]
                if v["number"] == version)


@pytest.fixture
def code_env(workdir, monkeypatch) -> Path:
    monkeypatch.setenv("KAGGLEKIT_KERNEL_POLL", "0.3")
    return workdir


def one_error(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    return lines[0]


def hidden(sandbox) -> Path:
    return sandbox.bundles[CODE].hidden


def ids_of(csv: Path) -> set[str]:
    return set(pd.read_csv(csv, dtype=str)["id"])


def wait_complete(cli, name: str) -> None:
    code, out, err = cli("kernel", "status", name, "--wait", "-q")
    assert code == 0, err
    assert "complete" in out


def sklearn_log_loss(submission: Path, solution: Path) -> float:
    """The multi-class log loss of a class-columns SUBMISSION against SOLUTION (id,label), by scikit-learn
    directly (rows renormalized to sum to one, as Kaggle does): what a test expects the sandbox to score."""
    from sklearn.metrics import log_loss

    truth = pd.read_csv(solution, dtype={"id": str}).set_index("id")
    sub = pd.read_csv(submission, dtype={"id": str}).set_index("id").loc[truth.index]
    proba = sub.to_numpy(dtype=float)
    return float(log_loss(truth["label"].astype(int), proba / proba.sum(axis=1, keepdims=True),
                          labels=list(range(proba.shape[1]))))


def push_folds_against_a_cap_of_two(cli, name: str, folds: int) -> None:
    """`kernel push NAME --folds-parallel` of FOLDS fold kernels with room for 4 but a sandbox cap of 2 sessions:
    every fold is pushed, in order, and the ones that met the cap say so once, then wait and push again."""
    code, out, err = cli("kernel", "push", name, "--folds-parallel", "--max-concurrent", "4", "-q")
    assert code == 0, err
    pushed = [line.split()[1] for line in out.splitlines() if line.startswith("pushed")]
    assert pushed == [f"kaggler/{name}-fold{k}" for k in range(folds)]
    waits = [line for line in out.splitlines() if "cap of 2 batch GPU sessions is reached" in line]
    # fold 2 always meets the cap; fold 3 does too unless a session ended in between
    assert 1 <= len(waits) <= 2 and all("waiting for one of ours to finish, then pushing it again" in w for w in waits)


BACKBONE_SIZE = 32  # the fine-tuning tests' image size: the smallest a keras.applications backbone takes


@pytest.fixture
def weights_file(tmp_path):
    """A backbone weights file, as a user would attach it (saved from a model built without weights)."""
    import keras

    from kagglekit.models.finetune import backbone_of
    from kagglekit.models.registry import create_model

    keras.utils.set_random_seed(1)
    model = create_model("mobilenet_v3_small", (BACKBONE_SIZE, BACKBONE_SIZE, 3), 2)
    path = tmp_path / "mobilenet_v3_small.weights.h5"
    backbone_of(model).save_weights(str(path))
    return path
