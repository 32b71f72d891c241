"""Pretrained backbone weights on this machine: the file keras.applications downloaded for each backbone.

``--weights imagenet`` makes keras.applications download the backbone's weights (without the top, as
kagglekit builds backbones) into Keras' cache, ``$KERAS_HOME/models`` or ``~/.keras/models``. Keras names
each file itself (efficientnet.py, resnet.py, mobilenet_v3.py in keras/src/applications); this module
knows those names, so ``kagglekit upload-weights`` can find the file a user's machine already has.
"""

from __future__ import annotations

import os
from pathlib import Path

from kagglekit.core.errors import KagglekitError

# kagglekit backbone -> the name keras.applications gives its ImageNet weights without the top (include_top=False).
KERAS_WEIGHTS_FILES = {
    "efficientnet_b0": "efficientnetb0_notop.h5",
    "resnet50": "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "mobilenet_v3_small": "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
}


def keras_cache() -> Path:
    """The folder Keras downloads application weights into (KERAS_HOME moves it, as in Keras)."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "models"


def downloaded_weights(model: str) -> Path:
    """The ImageNet weights file Keras downloaded for backbone MODEL on this machine."""
    name = KERAS_WEIGHTS_FILES.get(model)
    if name is None:
        raise KagglekitError(f"'{model}' has no pretrained weights to publish; backbones: "
                             f"{', '.join(sorted(KERAS_WEIGHTS_FILES))}")
    path = keras_cache() / name
    if not path.is_file():
        raise KagglekitError(f"Keras has not downloaded {model}'s weights here (no {path}); train it once with "
                             f"--weights imagenet on a machine with internet, or pass --file WEIGHTS")
    return path
