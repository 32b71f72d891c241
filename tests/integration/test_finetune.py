"""Two-stage fine-tuning of a pretrained backbone, on a tiny backbone with weights the test saves itself.

ImageNet weights cannot be downloaded here; the mechanics do not depend on
which weights the file holds.
"""

from __future__ import annotations

import numpy as np
import pytest

from kagglekit.competition.definition import load_competition
from kagglekit.core.config import resolve_config

from kernel_fixtures import BACKBONE_SIZE as SIZE


def _backbone_weights(model) -> list[np.ndarray]:
    from kagglekit.models.finetune import backbone_of

    return [w.numpy().copy() for w in backbone_of(model).weights]


def _batch_norm_statistics(model) -> list[np.ndarray]:
    import keras

    from kagglekit.models.finetune import backbone_of

    return [w.numpy().copy() for layer in backbone_of(model).layers if isinstance(layer, keras.layers.BatchNormalization)
            for w in (layer.moving_mean, layer.moving_variance)]


def test_loaded_weights_equal_the_file(weights_file):
    import keras

    from kagglekit.models.finetune import backbone_of
    from kagglekit.models.registry import create_model

    reference = create_model("mobilenet_v3_small", (SIZE, SIZE, 3), 2)
    backbone_of(reference).load_weights(str(weights_file))
    keras.utils.set_random_seed(99)  # other random weights: only the file can make them equal
    loaded = create_model("mobilenet_v3_small", (SIZE, SIZE, 3), 2, weights=str(weights_file))
    assert all(np.array_equal(a, b) for a, b in zip(_backbone_weights(reference), _backbone_weights(loaded)))


def test_stage_one_trains_the_head_only_and_stage_two_keeps_batch_norm_statistics(weights_file, tmp_path):
    import keras

    from kagglekit.models.finetune import fit_two_stages
    from kagglekit.runs.folder import RunFolder
    from kagglekit.training.fold import build_compiled_model, fold_plan

    comp = load_competition("dogs-vs-cats")
    config = resolve_config(comp.train_defaults, model="mobilenet_v3_small", weights=str(weights_file),
                            image_size=SIZE, batch_size=16, head_epochs=1, epochs=2, learning_rate=0.01,
                            head_learning_rate=0.01, schedule="cosine")
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (64, SIZE, SIZE, 3)).astype("float32")
    y = rng.integers(0, 2, (64, 1)).astype("float32")
    fold = RunFolder(tmp_path / "run").fold(0)
    fold.path.mkdir(parents=True)
    plan = fold_plan(config, None, 4)
    from_file = create_with_file(weights_file)

    def build(learning_rate=None, stage=0):
        return build_compiled_model(comp, config, False, stage, learning_rate)

    def fit(model, first, last, stage=0):
        model.fit(x, y, batch_size=16, initial_epoch=first, epochs=last, verbose=0, callbacks=[plan])

    keras.utils.set_random_seed(5)
    untrained = build(stage=1)
    keras.utils.set_random_seed(5)
    final = fit_two_stages(build, fit, fold, config, plan)

    after_stage_one = build(stage=1)
    after_stage_one.load_weights(str(fold.head_weights))
    assert all(np.array_equal(a, b) for a, b in zip(_backbone_weights(after_stage_one), _backbone_weights(from_file)))
    head_before, head_after = untrained.get_layer("prob").get_weights()[0], after_stage_one.get_layer("prob").get_weights()[0]
    assert not np.array_equal(head_before, head_after)  # stage 1 trained the head

    moved = [not np.array_equal(a, b) for a, b in zip(_backbone_weights(final), _backbone_weights(from_file))]
    assert any(moved)  # stage 2 trained the backbone ...
    assert all(np.array_equal(a, b) for a, b in zip(_batch_norm_statistics(final), _batch_norm_statistics(from_file)))
    # ... and left batch normalization's statistics as the pretrained weights had them


def create_with_file(path):
    from kagglekit.models.registry import create_model

    return create_model("mobilenet_v3_small", (SIZE, SIZE, 3), 2, weights=str(path))


@pytest.mark.parametrize("args, message", [
    (["--model", "bn_cnn_small", "--head-epochs", "2"], "--head-epochs fine-tunes a pretrained backbone"),
    (["--model", "mobilenet_v3_small", "--image-size", "32", "--head-epochs", "3", "--epochs", "3"],
     "leaves no epoch for fine-tuning"),
    (["--model", "mobilenet_v3_small", "--image-size", "32", "--unfreeze", "-1"], "--unfreeze must be 0 or more"),
])
def test_fine_tuning_bad_input_is_one_line(workdir, cli, args, message):
    code, _, err = cli("train", "-c", "demo-digits", *args)
    assert code == 1 and message in err and len(err.strip().splitlines()) == 1


def test_kernel_weights_must_lie_under_an_attached_source(workdir, cli):
    mounted = "/kaggle/input/mnv3/keras/small/1/mobilenet_v3_small.weights.h5"
    code, out, err = cli("kernel", "build", "-c", "demo-digits", "--owner", "kaggler", "--name", "digits-ft",
                         "--model", "mobilenet_v3_small", "--image-size", "32", "--weights", mounted,
                         "--model-source", "kaggler/mnv3/keras/small/1", "--head-epochs", "2", "--epochs", "6")
    assert code == 0, err
    code, _, err = cli("kernel", "build", "-c", "demo-digits", "--owner", "kaggler", "--name", "digits-ft2",
                       "--model", "mobilenet_v3_small", "--image-size", "32", "--weights", mounted)
    assert code == 1 and "is not inside an attached source" in err and "--model-source" in err
    code, _, err = cli("kernel", "build", "-c", "demo-digits", "--owner", "kaggler", "--name", "digits-ft3",
                       "--model", "mobilenet_v3_small", "--image-size", "32", "--weights", mounted,
                       "--model-source", "kaggler/other/keras/small/1")
    assert code == 1 and "kaggler/other/keras/small/1 at /kaggle/input/other/keras/small/1/" in err
