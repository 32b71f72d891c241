"""Kaggle kernels: the built folder, the script run as Kaggle runs it, push/status/output through the sandbox,
fan-out and ensemble, multi-device training."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytest_plugins = ["sandbox_fixtures"]

ROOT = Path(__file__).resolve().parents[1]
DOGS = "dogs-vs-cats"
DEMO = "demo-digits"
TINY = ["--folds", "2", "--epochs", "1", "--image-size", "32", "--sample", "60", "--tta", "1", "--batch-size", "16"]


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    """One extraction cache for every kernel run of the session (the zips are the same)."""
    return tmp_path_factory.mktemp("kernel-cache")


@pytest.fixture
def kernel_env(workdir, shared_cache, monkeypatch) -> Path:
    monkeypatch.setenv("KAGGLEKIT_CACHE", str(shared_cache))
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


# -- build -----------------------------------------------------------------------

def test_build_writes_explicit_metadata_and_one_self_contained_script(cli, workdir, monkeypatch):
    from kagglekit.kernels.build import check_metadata

    monkeypatch.setenv("KAGGLE_KEY", "secret-key-that-must-not-leak")
    code, out, err = cli("kernel", "build", "-c", DOGS, *TINY, "--gpu", "NvidiaTeslaT4", "--owner", "kaggler",
                         "--name", "dogs-vs-cats-tiny", "--dataset", "someone/weights")
    assert code == 0, err
    folder = workdir / "kernels" / "dogs-vs-cats-tiny"
    assert "kaggler/dogs-vs-cats-tiny" in out and "NvidiaTeslaT4" in out
    meta = json.loads((folder / "kernel-metadata.json").read_text())
    assert meta == {
        "id": "kaggler/dogs-vs-cats-tiny", "title": "dogs-vs-cats-tiny", "code_file": "dogs-vs-cats-tiny.py",
        "language": "python", "kernel_type": "script", "is_private": True, "enable_gpu": True, "enable_tpu": False,
        "enable_internet": False, "machine_shape": "NvidiaTeslaT4", "competition_sources": [DOGS],
        "dataset_sources": ["someone/weights"], "kernel_sources": [], "model_sources": [], "keywords": [],
        "docker_image_pinning_type": "original"}
    check_metadata(meta, folder)
    assert sorted(p.name for p in folder.glob("*.py")) == ["dogs-vs-cats-tiny.py"]
    text = "".join(p.read_text() for p in folder.iterdir())
    assert "secret-key-that-must-not-leak" not in text and "kaggle.json" not in text
    script = (folder / "dogs-vs-cats-tiny.py").read_text()
    assert "'image_size': 32" in script and "PAYLOAD" in script and "'fold': None" in script


@pytest.mark.parametrize("args, message", [
    (["--gpu", "NvidiaK80"], "not a known accelerator"),
    (["--name", "Bad_Name"], "lowercase letters"),
    (["--model-source", "a/b/c"], "{owner}/{model-slug}/{framework}/{instance-slug}/{version-number}"),
    (["--dataset", "justaslug"], "{username}/{dataset-slug}"),
    (["--precision", "half"], "unknown precision"),
    (["--model", "nope"], "unknown model"),
    (["--model", "efficientnet_b0", "--weights", "imagenet"], "pass --internet"),
])
def test_build_refuses_what_kaggle_would_refuse(cli, workdir, args, message):
    code, out, err = cli("kernel", "build", "-c", DOGS, "--owner", "kaggler", *args)
    assert code == 1
    assert message in err
    assert not any((workdir / "kernels").glob("*/kernel-metadata.json"))


# -- the script, run as Kaggle runs it ------------------------------------------

@pytest.mark.slow
def test_script_runs_in_a_kaggle_layout_and_a_rerun_resumes(cli, kernel_env, dogs_dir, shared_cache):
    code, out, err = cli("kernel", "build", "-c", DOGS, *TINY, "--owner", "kaggler", "--name", "dogs-tiny",
                         "--resume-from", "kaggler/dogs-tiny")
    assert code == 0, err
    script = kernel_env / "kernels" / "dogs-tiny" / "dogs-tiny.py"
    first = kaggle_layout(kernel_env / "session1", dogs_dir)
    read_only(first / "input")
    before = snapshot(first / "input")

    done = run_script(script, first, shared_cache)
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
    done = run_script(script, second, shared_cache)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "fold 1/2 already trained; skipping" in done.stderr
    assert "fold 2/2: 30 training" in done.stderr  # only the missing fold was trained
    again = second / "working"
    assert (again / "fold_0" / "best.keras").read_bytes() == (working / "fold_0" / "best.keras").read_bytes()
    assert (again / "fold_1" / "result.json").is_file() and (again / "submission.csv").is_file()


# -- through the sandbox ---------------------------------------------------------

def demo_build(cli, name: str, *extra: str):
    code, out, err = cli("kernel", "build", "-c", DEMO, "--folds", "2", "--epochs", "1", "--image-size", "16",
                         "--model", "bn_cnn_small", "--sample", "60", "--tta", "1", "--name", name, *extra)
    assert code == 0, err
    return out


@pytest.fixture
def kernel_sandbox(make_sandbox, kernel_env, dogs_dir):
    server = make_sandbox(dogs_dir)  # stopped (its sessions killed) by make_sandbox
    (kernel_env / "data").mkdir()
    (kernel_env / "data" / DOGS).symlink_to(dogs_dir)
    return server


@pytest.mark.slow
def test_push_status_output_then_submit_scores(cli, kernel_env, kernel_sandbox):
    out = demo_build(cli, "digits-tiny", "--fold", "0")  # owner from the (sandbox's) credentials
    assert "kaggler/digits-tiny" in out
    code, out, err = cli("kernel", "push", "digits-tiny")
    assert code == 0, err
    assert "pushed kaggler/digits-tiny (version 1): http://localhost/code/kaggler/digits-tiny" in out

    code, out, err = cli("kernel", "status", "digits-tiny", "--wait", "-q")
    assert code == 0, err
    assert "kaggler/digits-tiny: complete" in out

    kernel_sandbox.max_output_page = 5  # the outputs come in three pages: all of them must arrive
    code, out, err = cli("kernel", "output", "digits-tiny", "-q")
    assert code == 0, err
    run = kernel_env / "runs" / DEMO / "digits-tiny"
    session = kernel_sandbox.state_dir / "kernels" / "kaggler" / "digits-tiny" / "1" / "working"
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


@pytest.mark.slow
def test_status_reports_a_failed_session_with_its_message(cli, kernel_env, kernel_sandbox):
    demo_build(cli, "digits-broken")
    script = kernel_env / "kernels" / "digits-broken" / "digits-broken.py"
    script.write_text(script.read_text().replace("'sample': 60", "'sample': 3"))  # too few for 2 folds: fails inside
    code, out, err = cli("kernel", "push", "digits-broken", "-q")
    assert code == 0, err
    code, out, err = cli("kernel", "status", "digits-broken", "--wait", "-q")
    assert code == 1
    assert "kaggler/digits-broken failed:" in err and "--sample 3 is too small" in err


def test_stock_kaggle_cli_accepts_the_folder(cli, kernel_env, kernel_sandbox, run_kaggle):
    demo_build(cli, "digits-stock")
    done = run_kaggle("kernels", "push", "-p", "kernels/digits-stock", cwd=kernel_env)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "Kernel version 1 successfully pushed" in done.stdout
    assert "does not resolve" not in done.stdout  # the title is the slug
    done = run_kaggle("kernels", "status", "kaggler/digits-stock", cwd=kernel_env)
    assert done.returncode == 0 and "has status" in done.stdout


@pytest.mark.slow
def test_fan_out_three_folds_then_ensemble_is_a_run_folder(cli, kernel_env, kernel_sandbox):
    from kagglekit.competition.definition import load_competition
    from kagglekit.core.config import resolve_config
    from kagglekit.data.catalog import build_catalog
    from kagglekit.train.crossval import assign_folds

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


# -- multi-device training -------------------------------------------------------

MIRRORED = r"""
import logging, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from kagglekit.train.devices import choose_strategy
strategy = choose_strategy()
print("strategy", type(strategy).__name__, strategy.num_replicas_in_sync)
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
from kagglekit.competition.definition import load_competition
from kagglekit.core.config import resolve_config
from kagglekit.data.catalog import build_catalog
from kagglekit.train.crossval import train_folds
comp = load_competition(sys.argv[1])
config = resolve_config(comp.train_defaults, folds=2, fold=0, epochs=1, image_size=32, batch_size=4, tta=1)
run, scores = train_folds(build_catalog(comp, sys.argv[2], with_test=False), config, sys.argv[2], sys.argv[3])
print("folds", sorted(scores["folds"]))
"""


@pytest.mark.slow
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


def test_precision_is_float32_on_cpu_and_mixed_on_modern_gpus():
    from kagglekit.train.devices import resolve_precision

    assert resolve_precision("auto", None) == "float32"
    assert resolve_precision("mixed_float16", None) == "float32"
    assert resolve_precision("auto", (7, 5)) == "mixed_float16"  # T4
    assert resolve_precision("auto", (6, 0)) == "float32"  # P100
    assert resolve_precision("auto", (8, 9)) == "mixed_bfloat16"  # L4


def test_push_status_output_need_a_built_then_pushed_kernel(cli, workdir):
    code, out, err = cli("kernel", "push")
    assert code == 1 and "name the kernel (kernels built: none)" in err
    code, out, err = cli("kernel", "status", "nope")
    assert code == 1 and "no kernel 'nope'" in err and "kernel build --name nope" in err
    code, out, err = cli("kernel", "build", "-c", DOGS, "--owner", "kaggler", "--name", "dogs-unpushed")
    assert code == 0, err
    for step in ("status", "output"):
        code, out, err = cli("kernel", step)  # the only kernel built is the default
        assert code == 1 and "nothing was pushed from kernels/dogs-unpushed" in err


def test_ensemble_refuses_a_folder_that_is_not_a_run(cli, workdir):
    (workdir / "notarun").mkdir()
    code, out, err = cli("ensemble", workdir / "notarun", "--out", workdir / "merged")
    assert code == 1 and "is not a kagglekit run folder" in err
    assert not (workdir / "merged").exists()


def test_fold_kernels_of_a_long_name_keep_valid_slugs_and_stay_out_of_the_default(cli, workdir):
    from kagglekit.kernels.build import build_kernel, check_name, fold_specs, spec_from_folder

    long_name = "dogs-vs-cats-a-kernel-with-a-name-fifty-chars-long"
    assert len(long_name) == 50
    code, out, err = cli("kernel", "build", "-c", DOGS, "--owner", "kaggler", "--folds", "12", "--name", long_name)
    assert code == 0, err
    specs = fold_specs(spec_from_folder(workdir / "kernels" / long_name))
    names = [s.name for s in specs]
    assert len(set(names)) == 12 and all(len(n) <= 50 and n.endswith(f"-fold{k}") for k, n in enumerate(names))
    for spec in specs:
        check_name(spec.name)
        assert spec.fan_out_of == long_name and spec.config.fold is not None and not spec.predict
        build_kernel(spec, workdir / "kernels")
    code, out, err = cli("kernel", "status")  # the fold kernels are followed through the one they came from
    assert code == 1 and f"nothing was pushed from kernels/{long_name}" in err


def test_resume_of_a_fold_kernel_takes_its_own_fold_only_and_never_half_a_copy(tmp_path):
    from kagglekit.kernels.entry import resume_from

    earlier = tmp_path / "input" / "digits-fan"
    for k in range(3):
        (earlier / f"fold_{k}").mkdir(parents=True)
        (earlier / f"fold_{k}" / "result.json").write_text("{}")
        (earlier / f"fold_{k}" / "best.keras").write_bytes(b"weights")
    (earlier / "config.json").write_text("{}")
    (earlier / "folds.csv").write_text("id,fold\n")
    working = tmp_path / "working"
    working.mkdir()
    assert resume_from(tmp_path / "input", ["digits-fan"], working, only=1) == ["fold_1"]
    assert sorted(p.name for p in working.iterdir()) == ["config.json", "fold_1", "folds.csv"]
    assert (working / "fold_1" / "best.keras").read_bytes() == b"weights"
    assert resume_from(tmp_path / "input", ["digits-fan"], working) == ["fold_0", "fold_2"]  # a whole run takes all


def test_kernel_calls_retry_a_download_cut_off_partway(monkeypatch):
    from kagglekit.core.errors import KagglekitError
    from kagglekit.kernels.remote import _kernel_call

    monkeypatch.setenv("KAGGLEKIT_HTTP_BACKOFF", "0")
    monkeypatch.setenv("KAGGLEKIT_HTTP_ATTEMPTS", "4")
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise ValueError("Downloaded file size (10) does not match expected size (20)")
        return "files"

    assert _kernel_call(flaky, "download the output") == "files" and len(calls) == 3
    calls.clear()

    def always_cut():
        calls.append(1)
        raise ValueError("Downloaded file size (10) does not match expected size (20)")

    with pytest.raises(KagglekitError, match=r"after 4 tries \(connection broken partway\)"):
        _kernel_call(always_cut, "download the output")
    with pytest.raises(KagglekitError, match="the kaggle client refused to push"):
        _kernel_call(lambda: (_ for _ in ()).throw(ValueError("bad title")), "push")


def test_a_damaged_push_record_is_a_clear_error(cli, workdir):
    code, out, err = cli("kernel", "build", "-c", DOGS, "--owner", "kaggler", "--name", "dogs-damaged")
    assert code == 0, err
    (workdir / "kernels" / "dogs-damaged" / "pushed.json").write_text('{"kernels": [')
    code, out, err = cli("kernel", "status", "dogs-damaged")
    assert code == 1 and "pushed.json is damaged" in err and "kernel push" in err
