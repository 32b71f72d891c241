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

Precision (`--precision auto`): on a GPU, by its compute capability (mixed
float16 on Volta/Turing, mixed bfloat16 on Ampere and newer, float32 on
Pascal). On a CPU, by measuring: a few training steps of the fold's model on
its first batches in float32 and in mixed bfloat16, each with and without XLA
(`jit_compile`); the fastest that is numerically sound (a finite loss within
a tolerance of float32's after the same steps) wins. CPUs differ (AVX-512 BF16
and AMX tiles run bfloat16 natively, others emulate it), so only a measurement
tells. The choice is recorded in the run, so a resume trains as it started.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

from kagglekit.core.config import PRECISIONS, TrainConfig
from kagglekit.core.errors import KagglekitError

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
        if requested == "mixed_bfloat16":  # CPUs with AVX-512 BF16 or AMX run it natively
            return requested
        if requested == "mixed_float16":
            log.warning("--precision mixed_float16 needs a GPU; training in float32 on the CPU "
                        "(mixed_bfloat16 runs on CPUs, fast on those with AVX-512 BF16 or AMX)")
        return "float32"
    if requested != "auto":
        return requested
    if capability >= (8, 0):  # Ampere and newer (A100, L4, H100): bfloat16 needs no loss scaling
        return "mixed_bfloat16"
    if capability >= (7, 0):  # Volta/Turing (T4): fast float16 tensor cores
        return "mixed_float16"
    return "float32"  # Pascal (P100) gains little from float16


def cpu_features() -> str:
    """The CPU's model name and the flags that decide bfloat16 speed (avx512_bf16, amx_bf16), from /proc/cpuinfo."""
    try:
        text = open("/proc/cpuinfo").read()
    except OSError:
        import platform

        return platform.processor() or platform.machine()
    name = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "?")
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    wanted = sorted(f for f in flags if f in ("avx512_bf16", "amx_bf16", "amx_tile", "avx512f", "avx2"))
    return f"{name} ({' '.join(wanted) or 'no AVX-512/AMX'})"


@dataclass(frozen=True)
class Precision:
    """How a run's folds compute: a Keras dtype policy, whether XLA compiles the step, and why."""

    policy: str = "float32"
    jit: bool = False
    measured: dict = field(default_factory=dict)  # "float32+xla" -> images/s, from the probe

    @property
    def name(self) -> str:
        return self.policy + ("+xla" if self.jit else "")

    def to_json(self) -> dict:
        return {"policy": self.policy, "jit": self.jit, "measured": self.measured}

    @classmethod
    def from_json(cls, data: dict) -> "Precision":
        return cls(str(data.get("policy", "float32")), bool(data.get("jit", False)), dict(data.get("measured") or {}))


@dataclass(frozen=True)
class StepSpeed:
    """One probe measurement: training images per second and the loss after the probe steps."""

    policy: str
    jit: bool
    images_per_second: float
    loss: float

    @property
    def name(self) -> str:
        return self.policy + ("+xla" if self.jit else "")


CPU_CANDIDATES = (("float32", False), ("float32", True), ("mixed_bfloat16", False), ("mixed_bfloat16", True))
LOSS_TOLERANCE = 0.1  # relative (absolute below a loss of 1) difference from float32 still called sound


def is_sound(speed: StepSpeed, base: StepSpeed, tolerance: float = LOSS_TOLERANCE) -> bool:
    """True when SPEED's loss is finite and near BASE's (plain float32) after the same steps."""
    return math.isfinite(speed.loss) and abs(speed.loss - base.loss) <= tolerance * max(1.0, abs(base.loss))


def choose_fastest(speeds: list[StepSpeed], tolerance: float = LOSS_TOLERANCE) -> StepSpeed:
    """The fastest candidate that is numerically sound: a finite loss near plain float32's after the same steps."""
    base = next(s for s in speeds if s.policy == "float32" and not s.jit)
    return max([s for s in speeds if is_sound(s, base, tolerance)] or [base], key=lambda s: s.images_per_second)


def probe_speeds(build_model, batches: list, candidates=CPU_CANDIDATES, steps: int = 4) -> list[StepSpeed]:
    """Time STEPS training steps (after one that traces and compiles) of BUILD_MODEL(jit) per candidate.

    Every candidate starts from the same weights and sees the same BATCHES, so
    their losses after the steps can be compared.
    """
    import keras

    found = []
    for policy, jit in candidates:
        keras.mixed_precision.set_global_policy(policy)
        keras.utils.set_random_seed(0)
        model = build_model(jit)
        x, y = batches[0]
        model.train_on_batch(x, y)  # traces the step (and compiles it with XLA)
        started, images = time.perf_counter(), 0
        for i in range(steps):
            x, y = batches[(i + 1) % len(batches)]
            logs = model.train_on_batch(x, y, return_dict=True)
            images += len(x)
        seconds = time.perf_counter() - started
        found.append(StepSpeed(policy, jit, images / max(seconds, 1e-9), float(logs["loss"])))
    keras.mixed_precision.set_global_policy("float32")
    return found


def precision_for(config: TrainConfig, measure) -> Precision:
    """The precision a run trains with: the capability rule on a GPU, MEASURE() (-> StepSpeeds) on a CPU for auto."""
    capability = _compute_capability()
    if config.precision != "auto" or capability is not None:
        return Precision(resolve_precision(config.precision, capability))
    speeds = measure()
    best = choose_fastest(speeds)
    measured = {s.name: round(s.images_per_second, 1) for s in speeds}
    base = next(s for s in speeds if s.policy == "float32" and not s.jit)
    unsound = [s.name for s in speeds if not is_sound(s, base)]
    log.info("precision auto: %s (training images/s: %s%s)", best.name,
             ", ".join(f"{k} {v:g}" for k, v in measured.items()),
             f"; numerically unsound: {', '.join(unsound)}" if unsound else "")
    return Precision(best.policy, best.jit, measured)


def training_strategy(config: TrainConfig, precision: Precision | None = None):
    """(strategy, config with the global batch size) for one fold; sets the Keras precision policy."""
    import keras

    strategy = choose_strategy()
    policy = precision.policy if precision else resolve_precision(config.precision, _compute_capability())
    keras.mixed_precision.set_global_policy(policy)
    replicas = strategy.num_replicas_in_sync
    if replicas > 1 or policy != "float32":
        log.info("training on %d replicas (%s), global batch %d, precision %s", replicas,
                 type(strategy).__name__, config.batch_size * replicas, policy)
    return strategy, config.replace(batch_size=config.batch_size * replicas)
