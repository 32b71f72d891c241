"""Inference with one model: test-time views of the images, and class probabilities averaged over them.

Used by training (a fold's out-of-fold predictions) and by predict (every
fold on the test images), so both see the images the same way. TTA views
follow the training augmentation: a mirror view only when training mirrored
images (a flipped digit is another digit), then centre zooms.
"""

from __future__ import annotations

import numpy as np

from kagglekit.data.augment import get_augmentation
from kagglekit.models.registry import output_probabilities

MAX_VIEWS = 6


def tta_views(augment: str, n: int) -> list[tuple[bool, float]]:
    """The first N test-time views as (mirror, zoom-in factor); the plain image is always first."""
    mirror = get_augmentation(augment).hflip
    views = [(False, 1.0)]
    if mirror:
        views.append((True, 1.0))
    for zoom in (0.9, 0.8):
        views.append((False, zoom))
        if mirror:
            views.append((True, zoom))
    return views[:n]


def _view(images, mirror: bool, zoom: float):
    import tensorflow as tf

    size = images.shape[1]
    if zoom < 1.0:
        images = tf.image.resize(tf.image.central_crop(images, zoom), [size, size])
    if mirror:
        images = tf.reverse(images, axis=[2])
    return images


def predict_paths(model, paths, image_size: int, batch_size: int, n_classes: int, views) -> np.ndarray:
    """Class probabilities (n, n_classes) of one model on PATHS, averaged over VIEWS."""
    import tensorflow as tf

    from kagglekit.data.pipeline import inference_dataset

    if len(paths) == 0:
        return np.zeros((0, n_classes))
    decoded = inference_dataset(paths, image_size, batch_size).cache()
    total = np.zeros((len(paths), n_classes))
    for mirror, zoom in views:
        ds = decoded.map(lambda x, m=mirror, z=zoom: _view(x, m, z), num_parallel_calls=tf.data.AUTOTUNE)
        total += output_probabilities(model.predict(ds, verbose=0), n_classes)
    return total / len(views)
