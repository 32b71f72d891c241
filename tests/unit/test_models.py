"""Every registered model: a forward pass at a tiny size, right shape, no NaN (registry-driven)."""

import numpy as np
import pytest

from kagglekit.core.errors import KagglekitError
from kagglekit.models.registry import create_model, list_models, min_image_size, output_probabilities


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("n_classes", [2, 5])
def test_forward_pass(name, n_classes):
    size = max(32, min_image_size(name))
    model = create_model(name, (size, size, 3), n_classes)
    x = np.random.default_rng(0).uniform(0, 255, (2, size, size, 3)).astype("float32")
    proba = output_probabilities(model.predict(x, verbose=0), n_classes)
    assert proba.shape == (2, n_classes)
    assert np.isfinite(proba).all()
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-4)


def test_course_cnn_is_the_course_model():
    model = create_model("course_cnn", (150, 150, 3), 2)
    convs = [layer.filters for layer in model.layers if layer.__class__.__name__ == "Conv2D"]
    assert convs == [32, 64, 128, 128]
    assert model.output_shape == (None, 1)


def test_unknown_model_and_weights():
    with pytest.raises(KagglekitError, match="valid models: course_cnn, bn_cnn"):
        create_model("vgg99", (32, 32, 3), 2)
    with pytest.raises(KagglekitError, match="weights file /nope.h5 .* not found"):
        create_model("resnet50", (32, 32, 3), 2, weights="/nope.h5")
    with pytest.raises(KagglekitError, match="backbones only"):
        create_model("bn_cnn", (32, 32, 3), 2, weights="imagenet")
    with pytest.raises(KagglekitError, match="needs --image-size 62"):
        create_model("course_cnn", (32, 32, 3), 2)


def _conv_filters(model):
    return [layer.filters for layer in model.layers if layer.__class__.__name__ == "Conv2D"]


def test_options_reach_the_builder():
    plain = create_model("bn_cnn", (16, 16, 3), 2)
    wide = create_model("bn_cnn", (16, 16, 3), 2, width=1.5, dropout=0.1)
    assert _conv_filters(plain) == [32, 32, 64, 64, 128, 128, 256, 256]
    assert _conv_filters(wide) == [48, 48, 96, 96, 192, 192, 384, 384]
    assert [layer.rate for layer in wide.layers if layer.__class__.__name__ == "Dropout"] == [0.1]
    # the half-width model is bn_cnn at width 0.5, and its own width option multiplies that
    assert _conv_filters(create_model("bn_cnn_small", (16, 16, 3), 2, width=2.0)) == _conv_filters(plain)


def test_an_option_the_model_does_not_take_is_named():
    with pytest.raises(KagglekitError, match="'course_cnn' does not take the option 'width'"):
        create_model("course_cnn", (64, 64, 3), 2, width=2.0)
    with pytest.raises(KagglekitError, match="--width must be positive"):
        create_model("res_cnn", (16, 16, 3), 2, width=0)


def test_one_record_per_model():
    from kagglekit.models.registry import get_model_spec, is_backbone

    spec = get_model_spec("res_cnn")
    assert (spec.min_size, spec.backbone) == (16, False) and "ResNet" in spec.description
    assert {"width", "dropout", "bn_scale", "stem"} <= set(spec.options())
    assert is_backbone("resnet50") and not is_backbone("bn_cnn")
    assert get_model_spec("course_cnn").options() == []
