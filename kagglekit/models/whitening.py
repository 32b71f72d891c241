"""The patch-whitening stem: a frozen first convolution that decorrelates small pixel patches.

Fast-training recipes (airbench, "How to train your ResNet") start the network
with a convolution that is not learned but computed from the training images:
the eigenvectors of the covariance of their 2x2 patches, each scaled to unit
variance. The first learned layer then sees inputs whose channels are
uncorrelated and equally scaled, which lets it train at a higher rate.
"""

from __future__ import annotations

import numpy as np

PATCH = 2
EPS = 5e-4  # added to each eigenvalue, relative to the mean one: noise directions are not blown up


def training_patches(images: np.ndarray, patch: int = PATCH) -> np.ndarray:
    """Every PATCH x PATCH patch (stride 1) of IMAGES (n, h, w, c) in [0, 1], as rows (m, patch*patch*c)."""
    windows = np.lib.stride_tricks.sliding_window_view(images, (patch, patch), axis=(1, 2))
    # (n, h', w', c, p, p) -> (n, h', w', p, p, c): the order of a conv kernel's (kh, kw, c_in)
    return windows.transpose(0, 1, 2, 4, 5, 3).reshape(-1, patch * patch * images.shape[-1])


def whitening_weights(images: np.ndarray, patch: int = PATCH, eps: float = EPS) -> tuple[np.ndarray, np.ndarray]:
    """(kernel (patch, patch, c, patch*patch*c), bias) of a convolution whose outputs on IMAGES' patches have
    zero mean and (up to EPS) the identity covariance. IMAGES: float (n, h, w, c) in [0, 1]."""
    rows = training_patches(np.asarray(images, dtype="float64"), patch)
    mean = rows.mean(axis=0)
    values, vectors = np.linalg.eigh(np.cov(rows - mean, rowvar=False))
    values = np.clip(values, 0.0, None)
    matrix = vectors / np.sqrt(values + eps * values.mean())  # column j: eigenvector j over its spread
    kernel = matrix.reshape(patch, patch, images.shape[-1], -1)
    return kernel.astype("float32"), (-mean @ matrix).astype("float32")
