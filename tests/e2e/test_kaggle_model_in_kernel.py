"""A Kaggle Model as a kernel's pretrained weights, with the internet off: created and versioned with the stock
CLI, downloaded, and mounted read-only under input/<model>/<framework>/<variation>/<version>/ in a real session
whose script loads it with Keras and predicts."""

from __future__ import annotations

import json
import time

import numpy as np

pytest_plugins = ["sandbox_fixtures"]

INSTANCE = "kaggler/tiny-dense/keras/default"

SCRIPT = '''
import os, socket
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import keras
inp, out = os.environ["KAGGLEKIT_KAGGLE_INPUT"], os.environ["KAGGLEKIT_KAGGLE_WORKING"]
mounted = os.path.join(inp, "tiny-dense", "keras", "default", "2")
print("mounted:", sorted(os.listdir(mounted)))
# The folders carry no write bits (a root process could still write: the bits are what is checked).
writable = [d for d, _, _ in os.walk(os.path.join(inp, "tiny-dense")) if os.stat(d).st_mode & 0o222]
print("input read-only" if not writable else f"input writable: {writable}")
try:
    socket.create_connection(("127.0.0.1", 9), timeout=1)
    print("network reachable")
except OSError as exc:
    print("network off:", exc)
model = keras.models.load_model(os.path.join(mounted, "model.keras"))
np.save(os.path.join(out, "prediction.npy"), model.predict(np.eye(3, dtype="float32"), verbose=0))
'''


def tiny_model(bias: float):
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, kernel_initializer="ones",
                                                                     bias_initializer=keras.initializers.Constant(bias))])
    return model


def test_a_model_version_is_mounted_in_a_kernel_with_the_internet_off(sandbox, run_kaggle, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model-metadata.json").write_text(json.dumps({
        "ownerSlug": "kaggler", "title": "Tiny dense", "slug": "tiny-dense", "subtitle": "", "isPrivate": True,
        "description": "weights for a kernel", "publishTime": "", "provenanceSources": ""}))
    assert run_kaggle("models", "create", "-p", str(tmp_path / "model")).returncode == 0
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "model-instance-metadata.json").write_text(json.dumps({
        "ownerSlug": "kaggler", "modelSlug": "tiny-dense", "instanceSlug": "default", "framework": "keras",
        "overview": "", "usage": "", "licenseName": "Apache 2.0", "fineTunable": False, "trainingData": [],
        "modelInstanceType": "Unspecified", "baseModelInstanceId": 0, "externalBaseModelUrl": ""}))
    tiny_model(0.0).save(weights / "model.keras")
    assert run_kaggle("models", "instances", "create", "-p", str(weights)).returncode == 0
    second = tiny_model(0.5)
    second.save(weights / "model.keras")
    done = run_kaggle("models", "instances", "versions", "create", INSTANCE, "-p", str(weights), "-n", "bias 0.5")
    assert done.returncode == 0, done.stdout + done.stderr
    done = run_kaggle("models", "instances", "versions", "download", f"{INSTANCE}/2", "-p", str(tmp_path / "dl"), "--untar")
    assert done.returncode == 0 and (tmp_path / "dl" / "model.keras").read_bytes() == (weights / "model.keras").read_bytes()

    kernel = tmp_path / "kernel"
    kernel.mkdir()
    (kernel / "run.py").write_text(SCRIPT)
    (kernel / "kernel-metadata.json").write_text(json.dumps({
        "id": "kaggler/uses-tiny-dense", "title": "uses tiny dense", "code_file": "run.py", "language": "python",
        "kernel_type": "script", "is_private": True, "enable_gpu": False, "enable_tpu": False, "enable_internet": False,
        "competition_sources": [], "dataset_sources": [], "kernel_sources": [],
        "model_sources": [f"{INSTANCE}/2", "kaggler/no-such-model/keras/default/1"]}))
    from kagglekit.kaggle.remote import connect

    answer = connect().kernels_push(str(kernel))
    assert not answer.error and answer.invalid_model_sources == ["kaggler/no-such-model/keras/default/1"]
    session = sandbox.sessions_dir / "kernels" / "kaggler" / "uses-tiny-dense" / "1"
    deadline = time.monotonic() + 180
    while sandbox.store.data["kernels"]["kaggler/uses-tiny-dense"]["versions"][0]["status"] not in ("COMPLETE", "ERROR"):
        assert time.monotonic() < deadline, "the session did not end in 180 s"
        time.sleep(0.5)
    log = (session / "log.txt").read_text()
    assert sandbox.store.data["kernels"]["kaggler/uses-tiny-dense"]["versions"][0]["status"] == "COMPLETE", log
    assert "mounted: ['model.keras']" in log and "input read-only" in log and "network off" in log
    expected = second.predict(np.eye(3, dtype="float32"), verbose=0)  # version 2's weights, not version 1's
    assert np.allclose(np.load(session / "working" / "prediction.npy"), expected)
    pulled = run_kaggle("kernels", "pull", "kaggler/uses-tiny-dense", "-p", str(tmp_path / "pulled"), "-m")
    assert pulled.returncode == 0
    assert json.loads((tmp_path / "pulled" / "kernel-metadata.json").read_text())["model_sources"] == [f"{INSTANCE}/2"]
