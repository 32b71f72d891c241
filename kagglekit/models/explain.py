"""What a model does to an image, layer by layer: output shapes, parameters, receptive fields.

For every convolution and pooling layer the receptive field (how many input
pixels one output value sees) and the jump (how many input pixels apart two
neighbouring output values are) follow the usual recurrence, applied along
the model's graph so that branches and nested backbones are handled:

    rf_out   = rf_in + (k_eff - 1) * jump_in      k_eff = dilation * (k - 1) + 1
    jump_out = jump_in * stride

Where branches meet (Add, Concatenate) the widest input wins. Global pooling
sees the whole image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kagglekit.core.errors import KagglekitError


@dataclass(frozen=True)
class LayerInfo:
    """One layer of a model as the explain-model table shows it."""

    name: str
    kind: str  # the layer's class name, e.g. Conv2D
    output_shape: tuple
    params: int
    kernel: tuple[int, int] | None = None  # convolutions and pooling only
    stride: tuple[int, int] | None = None
    padding: str | None = None
    dilation: tuple[int, int] | None = None
    receptive_field: tuple[int, int] | None = None  # input pixels (height, width) one output value sees
    jump: tuple[int, int] | None = None  # input pixels between neighbouring outputs

    @property
    def is_spatial(self) -> bool:
        """True for convolutions and pooling, the layers that change what one value sees."""
        return self.kernel is not None


@dataclass(frozen=True)
class ModelExplanation:
    """A model's layers and totals, for one input size."""

    model: str
    input_shape: tuple[int, int, int]
    n_classes: int
    layers: tuple[LayerInfo, ...]
    total_params: int
    trainable_params: int

    @property
    def final_receptive_field(self) -> tuple[int, int]:
        """The receptive field of the last convolution or (non-global) pooling layer."""
        spatial = [layer for layer in self.layers if layer.jump is not None]
        return spatial[-1].receptive_field if spatial else (1, 1)


# Layer classes whose kernel/stride/padding decide the receptive field, and the attribute names holding them.
_WINDOWED = {
    "Conv2D": ("kernel_size", "strides"),
    "DepthwiseConv2D": ("kernel_size", "strides"),
    "SeparableConv2D": ("kernel_size", "strides"),
    "Conv2DTranspose": None,  # upsamples: the recurrence above does not apply
    "MaxPooling2D": ("pool_size", "strides"),
    "AveragePooling2D": ("pool_size", "strides"),
}
_GLOBAL = ("GlobalAveragePooling2D", "GlobalMaxPooling2D")


def _pair(value) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _step(state, layer, image: tuple[int, int]):
    """Receptive field and jump after LAYER, given them before it; plus the table fields."""
    kind = type(layer).__name__
    rf, jump = state
    if kind in _GLOBAL:
        return ((image[0], image[1]), jump), {"receptive_field": (image[0], image[1])}
    names = _WINDOWED.get(kind)
    if names is None:
        if kind in _WINDOWED:
            raise KagglekitError(f"layer {layer.name} ({kind}) upsamples; explain-model supports downsampling CNNs only")
        return state, {}
    kernel = _pair(getattr(layer, names[0]))
    stride = _pair(getattr(layer, names[1]) or kernel)
    dilation = _pair(getattr(layer, "dilation_rate", 1))
    k_eff = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    new_rf = tuple(r + (k - 1) * j for r, k, j in zip(rf, k_eff, jump))
    new_jump = tuple(j * s for j, s in zip(jump, stride))
    fields = {"kernel": kernel, "stride": stride, "padding": layer.padding, "dilation": dilation,
              "receptive_field": new_rf, "jump": new_jump}
    return (new_rf, new_jump), fields


def _merge(states):
    """Where branches meet, the output sees the union of what its inputs see."""
    rf = tuple(max(s[0][i] for s in states) for i in (0, 1))
    jump = tuple(max(s[1][i] for s in states) for i in (0, 1))
    return rf, jump


def _walk(model, input_states: list, image: tuple[int, int], rows: list[LayerInfo], prefix: str = ""):
    """Follow MODEL's graph from its inputs; append one row per layer; return the outputs' states."""
    states = {id(t): s for t, s in zip(model.inputs, input_states)}
    for depth in sorted(model._nodes_by_depth, reverse=True):  # inputs are deepest
        for node in model._nodes_by_depth[depth]:
            layer = node.operation
            if type(layer).__name__ == "InputLayer":
                continue
            inputs = [states[id(t)] for t in node.input_tensors if id(t) in states]
            state = _merge(inputs) if inputs else ((1, 1), (1, 1))
            if hasattr(layer, "_nodes_by_depth"):  # a nested model such as a keras.applications backbone
                outs = _walk(layer, [state] * len(layer.inputs), image, rows, prefix=f"{prefix}{layer.name}/")
                for t, s in zip(node.output_tensors, outs):
                    states[id(t)] = s
                continue
            state, fields = _step(state, layer, image)
            for t in node.output_tensors:
                states[id(t)] = state
            shape = tuple(node.output_tensors[0].shape)
            rows.append(LayerInfo(f"{prefix}{layer.name}", type(layer).__name__, shape, int(layer.count_params()), **fields))
    return [states.get(id(t), ((1, 1), (1, 1))) for t in model.outputs]


def explain_model(name: str, image_size: int, n_classes: int = 2) -> ModelExplanation:
    """Build model NAME for IMAGE_SIZE-pixel RGB input and describe each of its layers."""
    from kagglekit.models.registry import create_model

    model = create_model(name, (image_size, image_size, 3), n_classes, "none")
    rows: list[LayerInfo] = []
    _walk(model, [((1, 1), (1, 1))], (image_size, image_size), rows)
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    return ModelExplanation(name, (image_size, image_size, 3), n_classes, tuple(rows), int(model.count_params()), trainable)
