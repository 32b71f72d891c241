"""Fast-training techniques that act during fit: an EMA of the weights, alternating flips, smoothed labels.

The EMA (exponential moving average) of the weights is what a fold validates,
saves and predicts with when --ema is on: at each validation the averaged
weights are swapped in and batch normalization's statistics are recomputed
on training batches (the averaged weights would not match the raw weights'
running statistics); the raw weights come back when the next epoch starts.
After a resume, the average restarts from the weights saved at the last epoch.
"""

from __future__ import annotations

import keras

BN_BATCHES = 8  # training batches the batch-norm statistics are recomputed on


class WeightAverage(keras.callbacks.Callback):
    """An exponential moving average of the trainable weights, swapped in for validation and saving.

    DECAY per step, warmed up as (1 + t) / (10 + t) so that early steps are not averaged with the
    initial weights for long. BATCHES: an iterable of training (x, y) batches for the BN statistics.
    Put it first among the callbacks: it must swap before the others validate, save or stop.
    """

    def __init__(self, decay: float, batches, bn_batches: int = BN_BATCHES):
        super().__init__()
        self.decay, self.batches, self.bn_batches = decay, batches, bn_batches
        self.raw = None  # the raw weights while the average is swapped in

    def on_train_begin(self, logs=None):
        import tensorflow as tf

        weights = self.model.trainable_variables
        self.shadow = [tf.Variable(w, trainable=False) for w in weights]
        self.step = tf.Variable(0.0, trainable=False)

        @tf.function
        def update():
            self.step.assign_add(1.0)
            decay = tf.minimum(self.decay, (1.0 + self.step) / (10.0 + self.step))
            for s, w in zip(self.shadow, weights):
                s.assign(decay * s + (1.0 - decay) * tf.cast(w, s.dtype))

        self.update = update

    def on_train_batch_end(self, batch, logs=None):
        if self.raw is None:
            self.update()

    def on_test_begin(self, logs=None):
        if self.raw is None:  # validation within fit: validate (and then save) the average
            self.swap_in()

    def on_epoch_begin(self, epoch, logs=None):
        self.swap_out()

    def swap_in(self) -> None:
        """Put the averaged weights into the model (keeping the raw ones) and recompute BN statistics."""
        weights = self.model.trainable_variables
        self.raw = [w.numpy() for w in weights]
        for w, s in zip(weights, self.shadow):
            w.assign(s)
        recompute_bn_statistics(self.model, self.batches, self.bn_batches)

    def swap_out(self) -> None:
        """Put the raw weights back (training continues from them)."""
        if self.raw is not None:
            for w, value in zip(self.model.trainable_variables, self.raw):
                w.assign(value)
            self.raw = None


def batch_norm_layers(model) -> list:
    """Every BatchNormalization layer of MODEL, nested models included."""
    return [layer for layer in model._flatten_layers(include_self=False)
            if isinstance(layer, keras.layers.BatchNormalization)]


def recompute_bn_statistics(model, batches, n_batches: int = BN_BATCHES) -> int:
    """Set every batch-norm layer's moving mean and variance to their average over N_BATCHES of BATCHES,
    run through MODEL in training mode (the weights do not change); returns the batches used."""
    layers = [layer for layer in batch_norm_layers(model) if layer.trainable]
    if not layers:
        return 0
    momenta = [layer.momentum for layer in layers]
    used = 0
    try:
        for x, _ in batches.take(n_batches) if hasattr(batches, "take") else batches[:n_batches]:
            for layer in layers:  # moving = m * moving + (1 - m) * batch: m = i/(i+1) keeps a plain average
                layer.momentum = used / (used + 1)
            model(x, training=True)
            used += 1
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    return used


class EpochCounter(keras.callbacks.Callback):
    """Keeps a tf.Variable at the number of the epoch being trained (what alternating flips follow)."""

    def __init__(self, variable):
        super().__init__()
        self.variable = variable

    def on_epoch_begin(self, epoch, logs=None):
        self.variable.assign(epoch)


@keras.saving.register_keras_serializable(package="kagglekit")
class SmoothedSparseCrossentropy(keras.losses.Loss):
    """Categorical cross-entropy of class-index targets with label smoothing (Keras smooths one-hot targets only)."""

    def __init__(self, n_classes: int, label_smoothing: float = 0.0, name="smoothed_sparse_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.n_classes, self.label_smoothing = int(n_classes), float(label_smoothing)

    def call(self, y_true, y_pred):
        one_hot = keras.ops.one_hot(keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32"), self.n_classes)
        return keras.losses.categorical_crossentropy(one_hot, y_pred, label_smoothing=self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "n_classes": self.n_classes, "label_smoothing": self.label_smoothing}

