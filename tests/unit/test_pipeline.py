"""The tf.data pipeline and augmentation presets on real photos."""

import numpy as np
import pytest

from conftest import extract_photos
from kagglekit.core.errors import KagglekitError
from kagglekit.data.augment import augment_batch, get_augmentation, list_augmentations
from kagglekit.data.pipeline import inference_dataset, training_dataset


@pytest.fixture
def photos(workdir, dogs_dir):
    names = [f"{k}.{i}.jpg" for k in ("cat", "dog") for i in range(6)]
    return extract_photos(dogs_dir / "train.zip", workdir / "photos", names)


def _epoch(ds):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    return np.concatenate(xs), np.concatenate(ys)


def test_training_batches_are_float_pixels_and_deterministic(photos):
    labels = np.array([0] * 6 + [1] * 6)
    make = lambda seed: training_dataset(photos, labels, 24, 5, "course", seed=seed)  # noqa: E731
    x1, y1 = _epoch(make(3))
    x2, y2 = _epoch(make(3))
    assert x1.shape == (12, 24, 24, 3) and x1.dtype == np.float32
    assert 0 <= x1.min() and x1.max() <= 255 and x1.std() > 10
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2)  # same seed, same epoch
    x3, _ = _epoch(make(4))
    assert not np.array_equal(x1, x3)
    ds = make(3)
    first, second = _epoch(ds), _epoch(ds)
    assert not np.array_equal(first[0], second[0])  # a new order and new warps every epoch
    assert sorted(first[1]) == sorted(second[1])


def test_inference_keeps_file_order_and_no_augmentation(photos):
    a = np.concatenate([b.numpy() for b in inference_dataset(photos, 20, 4)])
    b = np.concatenate([b.numpy() for b in inference_dataset(list(reversed(photos)), 20, 4)])
    assert a.shape == (12, 20, 20, 3)
    assert np.array_equal(a, b[::-1])


def test_augmentation_presets():
    import tensorflow as tf

    assert {"none", "light", "course"} <= set(list_augmentations())
    with pytest.raises(KagglekitError, match=r"valid: none, .*course"):
        get_augmentation("rainbow")
    images = tf.random.stateless_uniform([4, 16, 16, 3], seed=[1, 2], maxval=255.0)
    assert augment_batch(images, tf.constant([1, 2]), get_augmentation("none")) is images
    warped = augment_batch(images, tf.constant([1, 2]), get_augmentation("course"))
    assert warped.shape == images.shape and not np.allclose(warped, images)
    # a pure mirror is exact: only the flip is drawn
    from kagglekit.data.augment import Augmentation

    batch = tf.random.stateless_uniform([16, 16, 16, 3], seed=[3, 4], maxval=255.0)  # no image is its own mirror
    out = augment_batch(batch, tf.constant([5, 6]), Augmentation("flip", hflip=True)).numpy()
    mirrored = [not np.allclose(o, img, atol=1e-3) for img, o in zip(batch.numpy(), out)]
    assert 0 < sum(mirrored) < 16  # some images mirrored, some kept: a flip that does nothing fails here
    for img, o, was_mirrored in zip(batch.numpy(), out, mirrored):
        assert np.allclose(o, img[:, ::-1] if was_mirrored else img, atol=1e-3)  # exactly its mirror, or itself
