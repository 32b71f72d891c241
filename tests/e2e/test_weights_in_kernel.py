"""Pretrained weights through Kaggle Models, end to end: a backbone's weights saved, published with
`kagglekit upload-weights` to the sandbox, and loaded by a kagglekit kernel that mounts them with the internet
off (path (b) of the GPU recipe, rehearsed on CPU)."""

from __future__ import annotations

import numpy as np
from kernel_fixtures import DOGS

TINY = ["--folds", "2", "--fold", "0", "--epochs", "1", "--image-size", "32", "--sample", "40", "--tta", "1", "--batch-size", "16",
        "--precision", "float32"]


def backbone_weights_file(path, seed: int) -> list:
    """Save weights of the backbone kagglekit's mobilenet_v3_small builds (random, from SEED) as Keras saves them."""
    import keras

    keras.utils.set_random_seed(seed)
    base = keras.applications.MobileNetV3Small(include_top=False, weights=None, input_shape=(32, 32, 3),
                                               pooling="avg")
    base.save_weights(str(path))
    return base.get_weights()


def test_weights_published_as_a_model_are_loaded_by_a_kernel_with_the_internet_off(cli, kernel_env, kernel_sandbox,
                                                                                  tmp_path, monkeypatch):
    from kagglekit.models.finetune import backbone_of
    from kagglekit.runs.folder import RunFolder, load_fold_model

    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the client's resumable-upload state
    saved = backbone_weights_file(tmp_path / "mnv3.weights.h5", seed=7)
    code, out, err = cli("upload-weights", "mobilenet_v3_small", "--file", tmp_path / "mnv3.weights.h5",
                         "--model", "kaggler/mnv3-tiny")
    assert code == 0, err
    source = next(line.split()[1] for line in out.splitlines() if line.startswith("--model-source"))
    weights = next(line.split()[1] for line in out.splitlines() if line.startswith("--weights"))
    assert source == "kaggler/mnv3-tiny/keras/mobilenet-v3-small/1"

    # A learning rate so small that training leaves the backbone as it was loaded.
    code, out, err = cli("kernel", "build", "-c", DOGS, *TINY, "--model", "mobilenet_v3_small", "--learning-rate", "1e-12",
                         "--model-source", source, "--weights", weights, "--name", "dogs-mnv3")
    assert code == 0, err
    assert "internet off" in out
    assert cli("kernel", "push", "dogs-mnv3", "-q")[0] == 0
    code, out, err = cli("kernel", "status", "dogs-mnv3", "--wait", "-q")
    assert code == 0, err
    code, out, err = cli("kernel", "output", "dogs-mnv3", "-q")
    assert code == 0, err
    run = RunFolder(kernel_env / "runs" / DOGS / "dogs-mnv3")
    assert run.submission.is_file()
    loaded = backbone_of(load_fold_model(run, 0)).get_weights()
    other = backbone_weights_file(tmp_path / "other.weights.h5", seed=8)  # what weights not loaded would look like
    assert len(loaded) == len(saved)

    def distance(weights) -> float:
        return float(sum(np.abs(a - b).sum() for a, b in zip(weights, saved)))

    assert distance(loaded) < 0.01 * distance(other)
