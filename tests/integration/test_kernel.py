"""Kaggle kernels: the built folder, the script run as Kaggle runs it, push/status/output through the sandbox,
fan-out and ensemble, multi-device training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kernel_fixtures import build


ROOT = Path(__file__).resolve().parents[2]
DOGS = "dogs-vs-cats"
DEMO = "demo-digits"
TINY = ["--folds", "2", "--epochs", "1", "--image-size", "32", "--sample", "60", "--tta", "1", "--batch-size", "16"]


# -- build -----------------------------------------------------------------------

def test_build_writes_explicit_metadata_and_one_self_contained_script(cli, workdir, monkeypatch):
    from kagglekit.kernels.metadata import check_metadata

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
    (["--model", "efficientnet_b0", "--weights", "imagenet"], "build a training kernel with --internet"),
    (["--model", "efficientnet_b0", "--weights", "imagenet"], "'kagglekit upload-weights efficientnet_b0 --model "
                                                              "OWNER/NAME' and build with the --model-source"),
])
def test_build_refuses_what_kaggle_would_refuse(cli, workdir, args, message):
    code, out, err = cli("kernel", "build", "-c", DOGS, "--owner", "kaggler", *args)
    assert code == 1
    assert message in err
    assert not any((workdir / "kernels").glob("*/kernel-metadata.json"))


# -- the script, run as Kaggle runs it ------------------------------------------


# -- through the sandbox ---------------------------------------------------------


def test_status_reports_a_failed_session_with_its_message(cli, kernel_env, kernel_sandbox):
    build(cli, "digits-broken")
    script = kernel_env / "kernels" / "digits-broken" / "digits-broken.py"
    script.write_text(script.read_text().replace("'sample': 60", "'sample': 3"))  # too few for 2 folds: fails inside
    code, out, err = cli("kernel", "push", "digits-broken", "-q")
    assert code == 0, err
    code, out, err = cli("kernel", "status", "digits-broken", "--wait", "-q")
    assert code == 1
    assert "kaggler/digits-broken failed:" in err and "--sample 3 is too small" in err


def test_stock_kaggle_cli_accepts_the_folder(cli, kernel_env, kernel_sandbox, run_kaggle):
    build(cli, "digits-stock")
    done = run_kaggle("kernels", "push", "-p", "kernels/digits-stock", cwd=kernel_env)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "Kernel version 1 successfully pushed" in done.stdout
    assert "does not resolve" not in done.stdout  # the title is the slug
    done = run_kaggle("kernels", "status", "kaggler/digits-stock", cwd=kernel_env)
    assert done.returncode == 0 and "has status" in done.stdout


# -- multi-device training -------------------------------------------------------


def test_precision_is_float32_on_cpu_and_mixed_on_modern_gpus():
    from kagglekit.training.devices import resolve_precision

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
    from kagglekit.kernels.build import build_kernel, spec_from_folder
    from kagglekit.kernels.fanout import fold_specs
    from kagglekit.kernels.metadata import check_name

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
