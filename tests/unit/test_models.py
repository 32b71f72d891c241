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
