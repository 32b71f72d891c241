"""Model registry: builders are pure functions returning an uncompiled keras.Model.

Every model takes float32 pixels in [0, 255] and does its own scaling, so the
saved .keras file is all that prediction needs. Two classes end in one
sigmoid unit (the course's way); more classes end in a softmax.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from kagglekit.core.errors import KagglekitError

# Short runs: BatchNorm's moving statistics must keep up with weights that move fast
# (Keras' 0.99 lags ~100 steps, and validation then sees stale statistics).
_BN_MOMENTUM = 0.9


@dataclass(frozen=True)
class ModelSpec:
    """One registered model: its builder and what callers need to know before building it."""

    builder: Callable  # fn(input_shape, n_classes, weights, **options) -> keras.Model
    description: str
    min_size: int = 8  # smallest input size in pixels
    backbone: bool = False  # built around a keras.applications backbone (--weights, fine-tuning)

    def options(self) -> list[str]:
        """The keyword options (width, dropout, ...) the builder takes beyond the shape, classes and weights."""
        params = list(inspect.signature(self.builder).parameters.values())[3:]
        return [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD or p.kind is p.KEYWORD_ONLY]


_MODELS: dict[str, ModelSpec] = {}


def register(name: str, description: str, min_size: int = 8, backbone: bool = False):
    """Add a builder `fn(input_shape, n_classes, weights, **options) -> keras.Model` to the registry."""

    def add(fn):
        _MODELS[name] = ModelSpec(fn, description, min_size, backbone)
        return fn

    return add


def get_model_spec(name: str) -> ModelSpec:
    """The registration of the model called NAME; an unknown name is an error that lists the valid ones."""
    if name not in _MODELS:
        raise KagglekitError(f"unknown model '{name}'; valid models: {', '.join(list_models())}")
    return _MODELS[name]


def list_models() -> list[str]:
    """Names of the models `create_model` knows."""
    return list(_MODELS)


def describe_models() -> dict[str, str]:
    """Name -> one-line description of each registered model."""
    return {name: spec.description for name, spec in _MODELS.items()}


def min_image_size(name: str) -> int:
    """The smallest input size (pixels) the model called NAME can take."""
    return get_model_spec(name).min_size


def is_backbone(name: str) -> bool:
    """True for models built around a keras.applications backbone (the ones --weights and fine-tuning apply to)."""
    return get_model_spec(name).backbone


def create_model(name: str, input_shape: tuple[int, int, int], n_classes: int, weights: str = "none", **options):
    """Build the model called NAME; OPTIONS (width, dropout, ...) go to its builder.

    An unknown name, or an option the model does not take, is an error that lists the valid ones.
    """
    spec = get_model_spec(name)
    if min(input_shape[:2]) < spec.min_size:
        raise KagglekitError(f"model '{name}' needs --image-size {spec.min_size} or more, got {min(input_shape[:2])}")
    if n_classes < 2:
        raise KagglekitError(f"a classifier needs at least 2 classes, got {n_classes}")
    unknown = sorted(set(options) - set(spec.options()))
    if unknown:
        raise KagglekitError(f"model '{name}' does not take the option '{unknown[0]}' (it takes: "
                             f"{', '.join(spec.options()) or 'none'}); choose another model or drop the setting")
    return spec.builder(tuple(input_shape), n_classes, weights, **options)


def _head(x, n_classes: int):
    from keras import layers

    # float32 output keeps the loss stable under mixed precision.
    if n_classes == 2:
        return layers.Dense(1, activation="sigmoid", dtype="float32", name="prob")(x)
    return layers.Dense(n_classes, activation="softmax", dtype="float32", name="probs")(x)


def _no_weights(name: str, weights: str) -> None:
    if weights not in ("none", "", None):
        raise KagglekitError(f"model '{name}' is trained from scratch; --weights applies to backbones only")


# Four valid 3x3 convolutions each followed by 2x2 pooling need 62 px to leave a 2x2 map.
@register("course_cnn", "the seed course's CNN: four Conv+MaxPool blocks 32-64-128-128, Dropout 0.5, Dense 512", min_size=62)
def course_cnn(input_shape, n_classes, weights="none"):
    import keras
    from keras import layers

    _no_weights("course_cnn", weights)
    inputs = keras.Input(input_shape)
    x = layers.Rescaling(1.0 / 255)(inputs)
    for filters in (32, 64, 128, 128):
        x = layers.Conv2D(filters, 3, activation="relu")(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.5)(x)
    x = layers.Dense(512, activation="relu")(x)
    return keras.Model(inputs, _head(x, n_classes), name="course_cnn")


def _widths(base: tuple[int, ...], width: float) -> tuple[int, ...]:
    if width <= 0:
        raise KagglekitError(f"--width must be positive, got {width}; 1.0 is the model's own width")
    return tuple(max(4, round(w * width)) for w in base)


def _batch_norm(x, bn_scale: bool, zero_scale: bool = False):
    from keras import layers

    if not bn_scale:  # no learned scale (the next convolution's weights can absorb it)
        return layers.BatchNormalization(momentum=_BN_MOMENTUM, scale=False)(x)
    return layers.BatchNormalization(momentum=_BN_MOMENTUM, gamma_initializer="zeros" if zero_scale else "ones")(x)


def _conv_bn(x, filters: int, bn_scale: bool = True, stride: int = 1):
    from keras import layers

    x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
    return layers.Activation("relu")(_batch_norm(x, bn_scale))


def _input_stem(inputs, stem):
    """Pixels scaled to [0, 1], then (STEM: whitening weights from models/whitening.py) a frozen whitening conv."""
    from keras import layers

    x = layers.Rescaling(1.0 / 255)(inputs)
    if stem is None:
        return x
    kernel, bias = stem
    conv = layers.Conv2D(kernel.shape[-1], kernel.shape[0], padding="same", trainable=False, name="whitening_stem")
    x = conv(x)
    conv.set_weights([kernel, bias])
    return x


@register("bn_cnn", "Conv-BatchNorm-ReLU blocks 32-64-128-256 (two convs each), max pooling, global average pooling")
def bn_cnn(input_shape, n_classes, weights="none", width: float = 1.0, dropout: float = 0.3, bn_scale: bool = True,
           stem=None):
    import keras
    from keras import layers

    _no_weights("bn_cnn", weights)
    inputs = keras.Input(input_shape)
    x = _input_stem(inputs, stem)
    widths = _widths((32, 64, 128, 256), width)
    for i, filters in enumerate(widths):
        x = _conv_bn(x, filters, bn_scale)
        x = _conv_bn(x, filters, bn_scale)
        if i < len(widths) - 1 and x.shape[1] > 2:
            x = layers.MaxPooling2D(2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(dropout)(x)
    return keras.Model(inputs, _head(x, n_classes), name="bn_cnn")


@register("bn_cnn_small", "bn_cnn at half width (16-32-64-128): for quick trials and tests")
def bn_cnn_small(input_shape, n_classes, weights="none", width: float = 1.0, dropout: float = 0.2,
                 bn_scale: bool = True, stem=None):
    return bn_cnn(input_shape, n_classes, weights, 0.5 * width, dropout, bn_scale, stem)


def _residual_block(x, filters: int, stride: int, bn_scale: bool):
    from keras import layers

    shortcut = x
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
    y = layers.Activation("relu")(_batch_norm(y, bn_scale))
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
    # Zero-initialised scale: each block starts as the identity, which trains faster.
    y = _batch_norm(y, bn_scale, zero_scale=True)
    if stride != 1 or shortcut.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False)(shortcut)
        shortcut = _batch_norm(shortcut, bn_scale)
    return layers.Activation("relu")(layers.Add()([shortcut, y]))


@register("res_cnn", "small ResNet: stride-2 stem, residual blocks 32-64-128-256, each stage halves the map; "
          "about half the compute of bn_cnn at the same size", min_size=16)
def res_cnn(input_shape, n_classes, weights="none", width: float = 1.0, dropout: float = 0.2, bn_scale: bool = True,
            stem=None):
    import keras
    from keras import layers

    _no_weights("res_cnn", weights)
    inputs = keras.Input(input_shape)
    x = _input_stem(inputs, stem)
    widths = _widths((32, 64, 128, 256), width)
    # A stride-2 stem: the full-size map is costly on a CPU and adds little.
    x = layers.Conv2D(widths[0], 3, strides=2, padding="same", use_bias=False)(x)
    x = layers.Activation("relu")(_batch_norm(x, bn_scale))
    for i, filters in enumerate(widths):
        x = _residual_block(x, filters, 1 if i == 0 else 2, bn_scale)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(dropout)(x)
    return keras.Model(inputs, _head(x, n_classes), name="res_cnn")


def _backbone_weights(name: str, weights: str):
    """Keras' `weights` argument for a backbone: None, 'imagenet', or a local file checked to exist."""
    if weights in ("none", "", None):
        return None
    if weights == "imagenet":
        return "imagenet"
    if not Path(weights).is_file():
        raise KagglekitError(
            f"weights file {weights} for {name} not found; pass --weights none, imagenet, or a local .h5 file "
            "(in a kernel with the internet off, attach the weights as a Kaggle dataset or model)"
        )
    return str(weights)


def _backbone(app_name: str, preprocess):
    def build(input_shape, n_classes, weights="none"):
        import keras
        from keras import layers

        app = getattr(keras.applications, app_name)
        inputs = keras.Input(input_shape)
        x = preprocess(inputs)
        base = app(include_top=False, weights=_backbone_weights(app_name, weights), input_shape=input_shape, pooling="avg")
        # Batch normalization always in inference mode: fine-tuning keeps the pretrained statistics (finetune.py).
        x = base(x, training=False)
        x = layers.Dropout(0.3)(x)
        return keras.Model(inputs, _head(x, n_classes), name=app_name.lower())

    return build


def _caffe_preprocess(x):
    """ResNet50's preprocessing (RGB->BGR, ImageNet means subtracted) as plain, safely saveable layers."""
    import numpy as np
    from keras import layers

    flip = layers.Conv2D(3, 1, use_bias=False, trainable=False, name="rgb_to_bgr")
    x = flip(x)
    kernel = np.zeros((1, 1, 3, 3), dtype="float32")
    for i in range(3):
        kernel[0, 0, i, 2 - i] = 1.0
    flip.set_weights([kernel])
    return layers.Normalization(mean=[103.939, 116.779, 123.68], variance=[1.0, 1.0, 1.0])(x)


register("efficientnet_b0", "EfficientNetB0 backbone (keras.applications), --weights none|imagenet|FILE", min_size=32,
         backbone=True)(
    _backbone("EfficientNetB0", lambda x: x)  # EfficientNet rescales 0-255 input itself
)
register("resnet50", "ResNet50 backbone (keras.applications), --weights none|imagenet|FILE", min_size=32,
         backbone=True)(
    _backbone("ResNet50", _caffe_preprocess)
)
register("mobilenet_v3_small", "MobileNetV3Small backbone (keras.applications, 0.9 M parameters): fine-tuning "
         "on small GPUs and quick CPU trials, --weights none|imagenet|FILE", min_size=32,
         backbone=True)(
    _backbone("MobileNetV3Small", lambda x: x)  # it rescales 0-255 input itself
)


def output_probabilities(raw, n_classes: int):
    """Model outputs as class probabilities (n, n_classes): a sigmoid unit p becomes [1-p, p]."""
    import numpy as np

    raw = np.asarray(raw, dtype="float64")
    if n_classes == 2:
        p = raw.reshape(-1)
        return np.stack([1.0 - p, p], axis=1)
    return raw
