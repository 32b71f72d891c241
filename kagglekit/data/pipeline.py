"""The tf.data input pipeline: decode, resize, cache, shuffle, batch, augment, prefetch.

Images are decoded once (JPEG or PNG; grayscale, RGBA and CMYK become RGB),
resized to the model's input size and cached as uint8, which is four times
smaller than floats. Shuffling, augmentation (one fused warp per batch) and
the conversion to float32 happen after the cache, every epoch. Parallel maps
run AUTOTUNE calls (one per core) and are kept in order, so a seed fixes every
epoch. The model receives float32 pixels in [0, 255] and does its own scaling.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kagglekit.data.augment import Augmentation, augment_batch, get_augmentation


def decode_image(path, image_size: int):
    """Read one image file as uint8 RGB of shape (image_size, image_size, 3)."""
    import tensorflow as tf

    data = tf.io.read_file(path)
    image = tf.cond(
        tf.io.is_jpeg(data),
        lambda: _decode_jpeg_near(data, image_size),
        lambda: tf.io.decode_image(data, channels=3, expand_animations=False, dtype=tf.uint8),
    )
    return _resize(image, image_size)


def _decode_jpeg_near(data, image_size: int):
    """Decode a JPEG at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling, a fraction of the work)
    when that still covers IMAGE_SIZE, so the resize after it only ever shrinks."""
    import tensorflow as tf

    shape = tf.io.extract_jpeg_shape(data)
    shorter = tf.minimum(shape[0], shape[1])
    scale = tf.reduce_sum(tf.cast(shorter >= image_size * tf.constant([2, 4, 8]), tf.int32))
    return tf.switch_case(scale, [lambda r=r: tf.io.decode_jpeg(data, channels=3, ratio=r) for r in (1, 2, 4, 8)])


def _resize(image, image_size: int):
    import tensorflow as tf

    size = [image_size, image_size]
    shape = tf.shape(image)
    # Shrinking by area averaging is antialiased and ~3x cheaper on CPU than
    # resize(antialias=True), which cost more than the JPEG decode itself.
    image = tf.cond(
        tf.logical_and(shape[0] >= image_size, shape[1] >= image_size),
        lambda: tf.image.resize(image, size, method="area"),
        lambda: tf.image.resize(image, size, antialias=True),
    )
    return tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)


def decoded_dataset(paths, image_size: int, cache: str | Path | None = ""):
    """Decoded, resized uint8 images in the order of PATHS, cached (in memory by default).

    cache: "" keeps them in memory, a path caches them in files, None does not cache.
    """
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices(list(map(str, paths)))
    ds = ds.map(lambda p: decode_image(p, image_size), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if cache is not None:
        ds = ds.cache(str(cache))
    return ds


def to_model_input(images):
    """uint8 batches become the float32 pixels (0-255) every model takes."""
    import tensorflow as tf

    return tf.cast(images, tf.float32)


def training_dataset(
    paths,
    labels,
    image_size: int,
    batch_size: int,
    augmentation: str | Augmentation = "none",
    seed: int = 0,
    cache: str | Path | None = "",
    flip_epoch=None,
):
    """Shuffled, augmented (images, labels) batches for model.fit; a new order every epoch.

    FLIP_EPOCH (a tf.Variable holding the epoch number, training.techniques.EpochCounter keeps it):
    alternating flips, each image mirrored in every other epoch, half of them in each epoch.
    """
    import tensorflow as tf

    aug = get_augmentation(augmentation) if isinstance(augmentation, str) else augmentation
    images = decoded_dataset(paths, image_size, cache)
    # Each image's own bit, fixed by the seed: which parity of epochs mirrors it.
    parity = np.random.default_rng(seed).integers(0, 2, len(paths))
    ds = tf.data.Dataset.zip(images, tf.data.Dataset.from_tensor_slices(np.asarray(labels)),
                             tf.data.Dataset.from_tensor_slices(parity))
    ds = ds.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    # One seed pair per batch from a seeded stream: deterministic yet different every epoch.
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    ds = tf.data.Dataset.zip(ds, seeds)

    def augment(batch, seed_pair):
        x, y, bits = batch
        flip = None if flip_epoch is None else tf.equal((bits + tf.cast(flip_epoch, bits.dtype)) % 2, 1)
        x = augment_batch(to_model_input(x), seed_pair, aug, flip)
        return x, y

    ds = ds.map(augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return _without_model_autotuning(ds.prefetch(tf.data.AUTOTUNE))


def _without_model_autotuning(ds):
    """DS with tf.data's model-based autotuning off.

    Its background thread makes the destruction of an iterator wait for the
    thread's next wake-up, seconds later, and Keras makes a new iterator every
    epoch: measured here (2 CPU cores, TF 2.21), a 512-image epoch took 13-20 s
    with it and 12.5 s without; a 1,600-image epoch 9.2 s vs 8.7 s. Without it,
    AUTOTUNE parallel calls run one per core and prefetch still sizes its buffer.
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)


def inference_dataset(paths, image_size: int, batch_size: int, labels=None, cache: str | Path | None = None):
    """Batches in file order, unaugmented, for validation and prediction."""
    import tensorflow as tf

    ds = decoded_dataset(paths, image_size, cache)
    if labels is not None:
        ds = tf.data.Dataset.zip(ds, tf.data.Dataset.from_tensor_slices(np.asarray(labels)))
    ds = ds.batch(batch_size)
    if labels is None:
        ds = ds.map(to_model_input, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.map(lambda x, y: (to_model_input(x), y), num_parallel_calls=tf.data.AUTOTUNE)
    return _without_model_autotuning(ds.prefetch(tf.data.AUTOTUNE))
