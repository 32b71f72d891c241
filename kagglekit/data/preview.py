"""The augmentation preview: training images as the network sees them, before and after augmentation.

Images go through the same code as training: pipeline.decode_image (decode,
resize to the model's input size) and augment.augment_batch (the fused
random warp), so the grid shows exactly what the network is fed.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from kagglekit.core.atomic import atomic_open
from kagglekit.core.errors import KagglekitError

log = logging.getLogger("kagglekit")

DPI = 100
PAIR_WIDTH = 300  # pixels for one image shown twice (as loaded, augmented)
ROW_HEIGHT = 170
HEADER = 50
PAIRS_PER_ROW = 4


def preview_size(n: int) -> tuple[int, int]:
    """Pixel size (width, height) of a preview grid of N images."""
    cols = min(PAIRS_PER_ROW, n)
    return cols * PAIR_WIDTH, math.ceil(n / cols) * ROW_HEIGHT + HEADER


def augmented_samples(paths: list[str], image_size: int, augment: str, seed: int = 0):
    """(as loaded, augmented) uint8 arrays (n, size, size, 3), through the training pipeline's own functions."""
    import tensorflow as tf

    from kagglekit.data.augment import augment_batch, get_augmentation
    from kagglekit.data.pipeline import decode_image, to_model_input

    aug = get_augmentation(augment)
    loaded = tf.stack([decode_image(p, image_size) for p in paths])
    warped = augment_batch(to_model_input(loaded), tf.constant([seed, 1], tf.int64), aug)
    warped = tf.cast(tf.clip_by_value(tf.round(warped), 0.0, 255.0), tf.uint8)
    return loaded.numpy(), warped.numpy()


def pick_images(train, n: int, seed: int = 0):
    """N training rows spread over the classes (round-robin), in a seeded random order."""
    rng = np.random.default_rng(seed)
    shuffled = train.iloc[rng.permutation(len(train))]
    by_class = [group for _, group in shuffled.groupby("label", sort=True)]
    picked = []
    for i in range(max(len(g) for g in by_class)):
        picked.extend(g.iloc[i] for g in by_class if i < len(g))
        if len(picked) >= n:
            break
    return picked[:n]


def write_preview(comp, data_dir: Path, out: Path, augment: str, image_size: int, n: int = 16, seed: int = 0) -> Path:
    """Draw N training images of COMP, each as loaded and after AUGMENT, into the PNG file OUT."""
    from matplotlib.figure import Figure

    from kagglekit.data.catalog import build_train_table

    if n < 1:
        raise KagglekitError("--n must be at least 1")
    rows = pick_images(build_train_table(comp, Path(data_dir)), n, seed)
    log.info("preview: %d images at %d px, augmentation '%s'", len(rows), image_size, augment)
    loaded, warped = augmented_samples([r["path"] for r in rows], image_size, augment, seed)
    width, height = preview_size(len(rows))
    cols = min(PAIRS_PER_ROW, len(rows))
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    grid = fig.add_gridspec(math.ceil(len(rows) / cols), 2 * cols, top=1 - HEADER / height, bottom=0.01,
                            left=0.01, right=0.99, wspace=0.05, hspace=0.3)
    for i, row in enumerate(rows):
        r, c = divmod(i, cols)
        label = comp.labels.classes[int(row["label"])]
        for j, (pixels, what) in enumerate(((loaded[i], "loaded"), (warped[i], "augmented"))):
            ax = fig.add_subplot(grid[r, 2 * c + j])
            ax.imshow(pixels, interpolation="nearest")
            ax.set_axis_off()
            ax.set_title(f"label {label}" if j == 0 else what, fontsize="small")
    fig.suptitle(f"{comp.slug}: each image as loaded at {image_size} px, then with augmentation '{augment}'",
                 y=1 - 12 / height, fontsize="medium")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(out, "wb") as fh:
        fig.savefig(fh, dpi=DPI, format="png")
    return out
