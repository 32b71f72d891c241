"""Devices: which tf.distribute strategy and numeric precision a fold trains with.

Chosen by what TensorFlow finds, so the same command trains on a laptop's
CPU, one Kaggle P100, or Kaggle's two T4s:
- more than one GPU: MirroredStrategy over all of them (one replica each);
- no GPU but the CPU split into several logical devices (only when someone
  asked for it with ``tf.config.set_logical_device_configuration``, as tests
  do): MirroredStrategy over those;
- otherwise TensorFlow's default strategy.
The batch size in the settings is per replica: the global batch is that times
the replica count, so each GPU sees the batch size the recipe was tuned for.
Mixed precision is used on GPUs that run it fast (compute capability 7.0+),
never on the CPU.
"""

from __future__ import annotations

import logging

from kagglekit.config import PRECISIONS, TrainConfig
from kagglekit.errors import KagglekitError

log = logging.getLogger("kagglekit")


def choose_strategy():
    """The tf.distribute strategy for the devices TensorFlow sees."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy([d.name for d in gpus])
    cpus = tf.config.list_logical_devices("CPU")
    if not gpus and len(cpus) > 1:
        return tf.distribute.MirroredStrategy([d.name for d in cpus])
    return tf.distribute.get_strategy()


def _compute_capability() -> tuple[int, int] | None:
    """The smallest compute capability among the GPUs, or None without a GPU."""
    import tensorflow as tf

    found = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        if details.get("compute_capability"):
            found.append(tuple(details["compute_capability"]))
    return min(found) if found else None


def resolve_precision(requested: str, capability: tuple[int, int] | None) -> str:
    """The Keras dtype policy for REQUESTED on a GPU of CAPABILITY (None: CPU only)."""
    if requested not in PRECISIONS:
        raise KagglekitError(f"unknown precision '{requested}'; valid: {', '.join(PRECISIONS)}")
    if capability is None:
        if requested.startswith("mixed"):
            log.warning("--precision %s needs a GPU; training in float32 on the CPU", requested)
        return "float32"
    if requested != "auto":
        return requested
    if capability >= (8, 0):  # Ampere and newer (A100, L4, H100): bfloat16 needs no loss scaling
        return "mixed_bfloat16"
    if capability >= (7, 0):  # Volta/Turing (T4): fast float16 tensor cores
        return "mixed_float16"
    return "float32"  # Pascal (P100) gains little from float16


def training_strategy(config: TrainConfig):
    """(strategy, config with the global batch size) for one fold; sets the Keras precision policy."""
    import keras

    strategy = choose_strategy()
    policy = resolve_precision(config.precision, _compute_capability())
    keras.mixed_precision.set_global_policy(policy)
    replicas = strategy.num_replicas_in_sync
    if replicas > 1 or policy != "float32":
        log.info("training on %d replicas (%s), global batch %d, precision %s", replicas,
                 type(strategy).__name__, config.batch_size * replicas, policy)
    return strategy, config.replace(batch_size=config.batch_size * replicas)
