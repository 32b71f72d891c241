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


def tta_views(augment: str, n: int, shift: bool = False) -> list[tuple[bool, float, int]]:
    """The first N test-time views as (mirror, zoom-in factor, shift); the plain image is always first.

    SHIFT: the views after the plain one (and its mirror) move the image by +-1/16 of its size
    (shift +1 / -1, down and right / up and left) instead of zooming in.
    """
    mirror = get_augmentation(augment).hflip
    views = [(False, 1.0, 0)]
    if mirror:
        views.append((True, 1.0, 0))
    for step in ((1.0, 1), (1.0, -1)) if shift else ((0.9, 0), (0.8, 0)):
        views.append((False, *step))
        if mirror:
            views.append((True, *step))
    return views[:n]


def _view(images, mirror: bool, zoom: float, shift: int = 0):
    import tensorflow as tf

    size = images.shape[1]
    if zoom < 1.0:
        images = tf.image.resize(tf.image.central_crop(images, zoom), [size, size])
    if shift:  # the edge is mirrored into the gap, as a shift augmentation fills it
        d = max(1, round(size / 16))
        padded = tf.pad(images, [[0, 0], [d, d], [d, d], [0, 0]], mode="SYMMETRIC")
        start = 0 if shift > 0 else 2 * d
        images = padded[:, start:start + size, start:start + images.shape[2], :]
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
    for mirror, zoom, shift in views:
        ds = decoded.map(lambda x, m=mirror, z=zoom, s=shift: _view(x, m, z, s), num_parallel_calls=tf.data.AUTOTUNE)
        total += output_probabilities(model.predict(ds, verbose=0), n_classes)
    return total / len(views)
