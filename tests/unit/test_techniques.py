"""The fast-training settings, each at a tiny size: it changes what it says it changes."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kagglekit.competition.definition import load_competition
from kagglekit.core.config import TrainConfig
from kagglekit.core.errors import KagglekitError
from kagglekit.data.pipeline import training_dataset
from kagglekit.models.inference import _view, tta_views
from kagglekit.models.registry import create_model
from kagglekit.models.whitening import training_patches, whitening_weights
from kagglekit.training.fold import build_compiled_model
from kagglekit.training.run import training_config
from kagglekit.training.techniques import (
    EpochCounter, SmoothedSparseCrossentropy, WeightAverage, batch_norm_layers, recompute_bn_statistics)

SIZE = 12


def _images(n=8, size=SIZE, seed=0):
    """Smooth images (neighbouring pixels correlated, as in photos) with a little noise, 0-255."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (n, size // 2, size // 2, 3))
    return np.clip(coarse.repeat(2, 1).repeat(2, 2) + rng.normal(0, 12, (n, size, size, 3)), 0, 255).astype("float32")


def _compiled(**options):
    model = create_model("bn_cnn_small", (SIZE, SIZE, 3), 2, **options)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy")
    return model


def test_ema_validates_averaged_weights_with_recomputed_batch_norm_statistics():
    keras.utils.set_random_seed(0)
    x, y = _images(), np.array([0, 1] * 4, dtype="float32").reshape(-1, 1)
    batches = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    model = _compiled()
    ema = WeightAverage(0.9, batches)
    model.fit(batches, validation_data=batches, epochs=2, verbose=0, callbacks=[ema])
    assert ema.raw is not None  # the last validation left the average in
    raw, averaged = ema.raw[0], model.trainable_variables[0].numpy()
    assert not np.allclose(raw, averaged)
    assert np.allclose(averaged, ema.shadow[0].numpy())
    # The first BN layer's moving mean is the mean of its inputs over the training batches, under the average.
    first_bn = batch_norm_layers(model)[0]
    features = keras.Model(model.input, first_bn.input)
    expected = np.mean([features(b, training=False).numpy().mean(axis=(0, 1, 2)) for b, _ in batches], axis=0)
    assert np.allclose(first_bn.moving_mean.numpy(), expected, rtol=1e-3, atol=1e-4)
    ema.swap_out()
    assert np.allclose(model.trainable_variables[0].numpy(), raw)


def test_bn_statistics_are_a_plain_average_and_momentum_comes_back():
    model = _compiled()
    batches = [(_images(4, seed=s), None) for s in range(3)]
    assert recompute_bn_statistics(model, batches, 2) == 2
    first_bn = batch_norm_layers(model)[0]
    features = keras.Model(model.input, first_bn.input)
    expected = np.mean([features(b).numpy().mean(axis=(0, 1, 2)) for b, _ in batches[:2]], axis=0)
    assert np.allclose(first_bn.moving_mean.numpy(), expected, rtol=1e-3, atol=1e-4)
    assert first_bn.momentum == pytest.approx(0.9)


def test_whitening_stem_whitens_training_patches_and_stays_frozen():
    images = _images(16) / 255.0
    kernel, bias = whitening_weights(images)
    assert kernel.shape == (2, 2, 3, 12)
    rows = training_patches(images.astype("float64"))
    assert np.abs(np.cov(rows, rowvar=False) - np.eye(12)).max() > 0.5  # the raw patches are far from white
    model = _compiled(stem=(kernel, bias))
    stem = model.get_layer("whitening_stem")
    out = stem(tf.constant(images, tf.float32)).numpy()[:, :-1, :-1, :]  # the last row/column is padding's
    flat = out.reshape(-1, 12)
    assert np.abs(flat.mean(axis=0)).max() < 1e-3
    assert np.abs(np.cov(flat, rowvar=False) - np.eye(12)).max() < 0.02
    assert not stem.trainable and all(w is not stem.kernel for w in model.trainable_weights)
    before = stem.kernel.numpy().copy()
    model.fit(images * 255, np.ones((16, 1)), epochs=1, verbose=0)
    assert np.array_equal(stem.kernel.numpy(), before)


def test_bn_scale_off_leaves_no_gamma():
    for name in ("bn_cnn_small", "res_cnn"):
        plain = create_model(name, (16, 16, 3), 2)
        without = create_model(name, (16, 16, 3), 2, bn_scale=False)
        assert all(layer.gamma is not None for layer in batch_norm_layers(plain))
        assert batch_norm_layers(without) and all(layer.gamma is None for layer in batch_norm_layers(without))
        assert without.count_params() < plain.count_params()


def test_alternating_flip_mirrors_each_image_in_every_other_epoch():
    images = _images(8, 8).astype("uint8")
    paths = []
    import tempfile
    from pathlib import Path

    folder = Path(tempfile.mkdtemp())
    for i, image in enumerate(images):
        paths.append(folder / f"{i}.png")
        tf.io.write_file(str(paths[-1]), tf.io.encode_png(image))
    epoch = tf.Variable(0, dtype=tf.int64)
    ds = training_dataset(paths, np.arange(8), 8, 4, "flip", seed=3, flip_epoch=epoch)
    counter = EpochCounter(epoch)

    def mirrored_in_epoch(k):
        counter.on_epoch_begin(k)
        flipped = {}
        for x, y in ds:
            for image, label in zip(x.numpy(), y.numpy()):
                if np.allclose(image, images[label], atol=1e-2):
                    flipped[int(label)] = False
                elif np.allclose(image, images[label][:, ::-1], atol=1e-2):
                    flipped[int(label)] = True
        assert len(flipped) == 8  # every image seen, plain or mirrored, nothing else
        return flipped

    epochs = [mirrored_in_epoch(k) for k in range(3)]
    assert all(epochs[1][i] != epochs[0][i] and epochs[2][i] == epochs[0][i] for i in range(8))
    assert 0 < sum(epochs[0].values()) < 8


def test_label_smoothing_reaches_multi_class_targets():
    loss = SmoothedSparseCrossentropy(3, 0.3)
    pred = np.array([[0.7, 0.2, 0.1]], dtype="float32")
    expected = -(0.8 * np.log(0.7) + 0.1 * np.log(0.2) + 0.1 * np.log(0.1))
    assert float(loss(np.array([0]), pred)) == pytest.approx(expected, rel=1e-4)
    digits = load_competition("demo-digits")
    model = build_compiled_model(digits, TrainConfig(model="bn_cnn_small", image_size=8, label_smoothing=0.1))
    assert isinstance(model.loss, SmoothedSparseCrossentropy) and model.loss.label_smoothing == 0.1


def test_width_and_the_other_model_settings_reach_the_builder_or_are_refused():
    digits = load_competition("demo-digits")
    config = TrainConfig(model="bn_cnn_small", image_size=8, width=2.0, bn_scale=False)
    assert config.model_options() == {"width": 2.0, "bn_scale": False}
    model = build_compiled_model(digits, config)
    assert [l.filters for l in model.layers if isinstance(l, keras.layers.Conv2D)][0] == 32
    with pytest.raises(KagglekitError, match="'course_cnn' does not take --width"):
        training_config(digits, {"model": "course_cnn", "image_size": 64, "width": 2.0})
    with pytest.raises(KagglekitError, match="does not take --whitening-stem"):
        training_config(digits, {"model": "resnet50", "image_size": 32, "whitening_stem": True})
    with pytest.raises(KagglekitError, match="--alternating-flip needs an augmentation that mirrors"):
        training_config(digits, {"augment": "shift", "alternating_flip": True})


def test_shift_views_move_the_image():
    assert tta_views("medium", 6, shift=True) == [(False, 1.0, 0), (True, 1.0, 0), (False, 1.0, 1), (True, 1.0, 1),
                                                  (False, 1.0, -1), (True, 1.0, -1)]
    assert tta_views("shift", 3, shift=True) == [(False, 1.0, 0), (False, 1.0, 1), (False, 1.0, -1)]
    image = np.zeros((1, 16, 16, 1), "float32")
    image[0, 5, 7] = 1.0
    assert np.argwhere(_view(tf.constant(image), False, 1.0, 1).numpy()[0, :, :, 0] == 1).tolist() == [[6, 8]]
    assert np.argwhere(_view(tf.constant(image), False, 1.0, -1).numpy()[0, :, :, 0] == 1).tolist() == [[4, 6]]
