"""`kagglekit upload-weights`: a backbone's weights published as a private Kaggle Model in the sandbox through the
official client (created, then versioned), found in Keras' own cache without --file, refused with one line when
there is nothing to publish; the handle and path it prints are what `kernel build` accepts. (Loaded by a
kernel with the internet off: tests/e2e/test_weights_in_kernel.py.)"""

from __future__ import annotations

import pytest
from kernel_fixtures import one_error

MNV3 = "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5"  # keras/src/applications/mobilenet_v3.py's name


@pytest.fixture
def keras_home(sandbox, tmp_path, monkeypatch):
    """A Keras cache of this test's own (the sandbox fixture moved HOME; Keras reads KERAS_HOME first)."""
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the client's resumable-upload state, per test
    from pathlib import Path

    return Path.home() / ".keras" / "models"


def printed(out: str, prefix: str) -> str:
    return next(line.split(" ", 1)[1] for line in out.splitlines() if line.startswith(prefix))


def test_weights_keras_downloaded_are_published_then_versioned(cli, workdir, keras_home, run_kaggle, tmp_path):
    code, out, err = cli("upload-weights", "mobilenet_v3_small", "--model", "kaggler/mnv3-weights")
    assert code == 1
    assert f"Keras has not downloaded mobilenet_v3_small's weights here (no {keras_home / MNV3})" in one_error(err)
    assert "--file WEIGHTS" in err

    keras_home.mkdir(parents=True)
    (keras_home / MNV3).write_bytes(b"first weights")
    code, out, err = cli("upload-weights", "mobilenet_v3_small", "--model", "kaggler/mnv3-weights")
    assert code == 0, err
    handle = "kaggler/mnv3-weights/keras/mobilenet-v3-small/1"
    assert "created model kaggler/mnv3-weights/keras/mobilenet-v3-small (version 1)" in out
    assert printed(out, "--model-source") == handle
    assert printed(out, "--weights") == f"/kaggle/input/mnv3-weights/keras/mobilenet-v3-small/1/{MNV3}"

    mine = tmp_path / "tuned.weights.h5"
    mine.write_bytes(b"second weights")
    code, out, err = cli("upload-weights", "mobilenet_v3_small", "--model", "kaggler/mnv3-weights", "--file", mine)
    assert code == 0, err
    assert "new version of kaggler/mnv3-weights/keras/mobilenet-v3-small (version 2)" in out
    second, weights = printed(out, "--model-source"), printed(out, "--weights")
    assert weights == "/kaggle/input/mnv3-weights/keras/mobilenet-v3-small/2/tuned.weights.h5"
    done = run_kaggle("models", "instances", "versions", "download", second, "-p", str(tmp_path / "dl"), "--untar")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "dl" / "tuned.weights.h5").read_bytes() == b"second weights"

    # What it printed is what a kernel with the internet off is built with.
    code, out, err = cli("kernel", "build", "-c", "demo-digits", "--model", "mobilenet_v3_small", "--image-size", "32",
                         "--model-source", second, "--weights", weights, "--name", "digits-mnv3")
    assert code == 0, err
    assert "internet off" in out


@pytest.mark.parametrize("args, message", [
    (["resnet18", "--model", "kaggler/some-weights"], "'resnet18' is not a backbone with pretrained weights; "
                                                      "backbones: efficientnet_b0, mobilenet_v3_small, resnet50"),
    (["bn_cnn", "--model", "kaggler/some-weights"], "'bn_cnn' is not a backbone"),
    (["resnet50", "--model", "just-a-name"], "--model 'just-a-name' must be OWNER/NAME"),
    (["resnet50", "--model", "kaggler/w", "--file", "x.h5"], "must be OWNER/NAME with a name of 3 to 50"),
    (["resnet50", "--model", "kaggler/some-weights", "--file", "missing.h5"], "--file missing.h5 is not a file"),
])
def test_upload_weights_refuses_with_one_line(cli, workdir, args, message):  # before any call to Kaggle
    code, out, err = cli("upload-weights", *args)
    assert code == 1
    assert message in one_error(err)
