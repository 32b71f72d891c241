"""Benchmarks: kagglekit against what Kagglers use instead, on the same images, in one process.

Four parts (issue 5), each returning result rows (dicts):
  pipeline   kagglekit's tf.data pipeline vs ImageDataGenerator, image_dataset_from_directory
             with augmentation layers, and the floors (decode+resize alone, augmenting cached
             tensors alone)
  training   kagglekit's training loop vs plain model.fit on decoded in-memory arrays
  startup    wall time of `kagglekit --help`, `kagglekit validate` and `kaggle --help`
  memory     peak resident memory of a short `kagglekit train` run
Every contender gets the same images, size, batch size and augmentation ranges. After one
warm-up epoch each, epochs are timed in interleaved rounds, so a burst of load from other
processes hits all contenders alike, and the median epoch is reported. Ratios matter more
than absolute numbers on a shared machine. bench/results.py turns the rows into RESULTS.md.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kagglekit.data.augment import get_augmentation

log = logging.getLogger("kagglekit")

PARTS = ("pipeline", "training", "startup", "memory", "steps")
DEFAULT_PARTS = PARTS[:4]  # steps (float32 vs mixed precision, each +- XLA): `--parts steps`, and gpu_check.sh


@dataclass(frozen=True)
class BenchSettings:
    """What the benchmark runs; the defaults are what `make bench` measures."""

    image_size: int = 128
    batch_size: int = 32
    augment: str = "course"
    rounds: int = 3  # timed epochs per contender, after one warm-up epoch
    limit: int | None = None  # use only this many images (quick trials, tests)
    train_images: int = 512  # training part: images per epoch (plus a quarter as many to validate)
    train_rounds: int = 2
    train_model: str = "bn_cnn_small"
    startup_repeats: int = 5
    memory_model: str = "bn_cnn_small"
    steps: int = 60  # steps part: timed training steps per configuration
    step_models: str = ""  # steps part: the models measured, comma-separated (empty: train_model)
    precision: str = "auto"  # steps part: the policy compared with float32 (auto: bfloat16 on CPUs, by GPU)
    seed: int = 0


def _row(part, contender, value, unit, ratio=None, target=None, met=None, note=""):
    return {"part": part, "contender": contender, "value": value, "unit": unit,
            "ratio": ratio, "target": target, "met": met, "note": note}


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _interleaved(contenders: dict, rounds: int, what: str) -> dict[str, float]:
    """One warm-up call of each, then ROUNDS interleaved timed calls; median seconds per contender."""
    for name, epoch in contenders.items():
        log.info("%s: warm-up epoch of %s", what, name)
        epoch()
    times = {name: [] for name in contenders}
    for r in range(rounds):
        log.info("%s: round %d/%d", what, r + 1, rounds)
        for name, epoch in contenders.items():
            times[name].append(_timed(epoch))
    return {name: statistics.median(t) for name, t in times.items()}


def _consume(ds) -> None:
    for _ in ds:
        pass


def class_folders(paths, labels, classes, root: Path) -> Path:
    """A class-per-folder view (symlinks) of the images, as flow_from_directory needs."""
    root = Path(root)
    for path, label in zip(paths, labels):
        folder = root / classes[int(label)]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / Path(path).name).symlink_to(Path(path).resolve())
    return root


# ---- part 1: the input pipeline -------------------------------------------------------------

def image_data_generator_class():
    """Keras' ImageDataGenerator, reached the course's way, through tf.keras."""
    try:
        from keras.preprocessing.image import ImageDataGenerator
    except ImportError:  # Keras 3.15 dropped the public name; tf.keras still exports it
        import tensorflow as tf

        ImageDataGenerator = tf.keras.preprocessing.image.ImageDataGenerator
    return ImageDataGenerator


def _keras_generator_epoch(folder: Path, s: BenchSettings, n_classes: int):
    ImageDataGenerator = image_data_generator_class()
    aug = get_augmentation(s.augment)
    # ImageDataGenerator's shear_range is in degrees; kagglekit's (the course's) in radians.
    gen = ImageDataGenerator(
        rotation_range=aug.rotation, width_shift_range=aug.width_shift, height_shift_range=aug.height_shift,
        shear_range=math.degrees(aug.shear), zoom_range=aug.zoom, horizontal_flip=aug.hflip, fill_mode="nearest",
    )
    it = gen.flow_from_directory(
        str(folder), target_size=(s.image_size, s.image_size), batch_size=s.batch_size, seed=s.seed,
        class_mode="binary" if n_classes == 2 else "sparse", interpolation="bilinear",
    )

    def epoch():
        for _ in range(len(it)):
            next(it)

    return epoch


def _keras_layers_dataset(folder: Path, s: BenchSettings, n_classes: int):
    """The Keras guide's way: image_dataset_from_directory, augmentation layers mapped in parallel."""
    import keras
    import tensorflow as tf
    from keras import layers

    aug = get_augmentation(s.augment)
    ds = keras.utils.image_dataset_from_directory(
        str(folder), image_size=(s.image_size, s.image_size), batch_size=s.batch_size, seed=s.seed,
        label_mode="binary" if n_classes == 2 else "int", verbose=False,
    )
    # Shear is left out: the guide has no shear layer, so this contender does a little less work.
    augmentation = keras.Sequential([
        *([layers.RandomFlip("horizontal", seed=s.seed)] if aug.hflip else []),
        layers.RandomRotation(aug.rotation / 360.0, fill_mode="nearest", seed=s.seed),
        layers.RandomTranslation(aug.height_shift, aug.width_shift, fill_mode="nearest", seed=s.seed),
        layers.RandomZoom(aug.zoom, fill_mode="nearest", seed=s.seed),
    ])
    ds = ds.map(lambda x, y: (augmentation(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def _decode_floor_dataset(paths, s: BenchSettings, common: bool = False):
    """Reading, decoding and resizing alone, batched: kagglekit's decode_image, or (COMMON)
    the usual decode_image + resize(antialias=True) that kagglekit used before issue 5."""
    import tensorflow as tf

    from kagglekit.data.pipeline import decode_image

    def decode_common(path):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        image = tf.image.resize(image, [s.image_size, s.image_size], antialias=True)
        return tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)

    decode = decode_common if common else (lambda path: decode_image(path, s.image_size))
    ds = tf.data.Dataset.from_tensor_slices([str(p) for p in paths])
    ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE).batch(s.batch_size)
    return ds.prefetch(tf.data.AUTOTUNE)


def _augment_floor_dataset(images: np.ndarray, s: BenchSettings):
    """Augmenting decoded uint8 tensors already in memory, with kagglekit's fused warp; no shuffle."""
    import tensorflow as tf

    from kagglekit.data.augment import augment_batch

    aug = get_augmentation(s.augment)
    ds = tf.data.Dataset.from_tensor_slices(images).batch(s.batch_size).enumerate()
    ds = ds.map(lambda i, x: augment_batch(tf.cast(x, tf.float32), tf.stack([i, i]), aug),
                num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def decoded_images(paths, image_size: int) -> np.ndarray:
    """All images decoded and resized by kagglekit, as one uint8 array (n, size, size, 3)."""
    from kagglekit.data.pipeline import inference_dataset

    return np.concatenate([b.numpy() for b in inference_dataset(paths, image_size, 256)]).astype(np.uint8)


def bench_pipeline(paths, labels, classes, s: BenchSettings, workdir: Path) -> list[dict]:
    """Images per second of each input pipeline, producing float batches ready for a model."""
    from kagglekit.data.pipeline import training_dataset

    n = len(paths)
    folder = class_folders(paths, labels, classes, Path(workdir) / "by_class")
    kk = training_dataset(paths, labels, s.image_size, s.batch_size, s.augment, seed=s.seed)
    first_seed = iter(range(s.seed + 1, s.seed + 10_000))
    contenders = {
        "kagglekit": lambda: _consume(kk),
        # A fresh dataset each time: its first epoch decodes and fills the cache.
        "kagglekit_first": lambda: _consume(
            training_dataset(paths, labels, s.image_size, s.batch_size, s.augment, seed=next(first_seed))),
        "generator": _keras_generator_epoch(folder, s, len(classes)),
        "layers": (lambda ds: lambda: _consume(ds))(_keras_layers_dataset(folder, s, len(classes))),
        "decode_floor": (lambda ds: lambda: _consume(ds))(_decode_floor_dataset(paths, s)),
        "decode_common": (lambda ds: lambda: _consume(ds))(_decode_floor_dataset(paths, s, common=True)),
        "augment_floor": (lambda ds: lambda: _consume(ds))(_augment_floor_dataset(decoded_images(paths, s.image_size), s)),
    }
    rate = {k: n / v for k, v in _interleaved(contenders, s.rounds, "pipeline").items()}
    kk_rate, first = rate["kagglekit"], rate["kagglekit_first"]
    gen_ratio, layers_ratio = kk_rate / rate["generator"], kk_rate / rate["layers"]
    first_ratio = first / rate["decode_floor"]
    ips = "images/s"
    return [
        _row("pipeline", "kagglekit (cached epochs)", kk_rate, ips, 1.0),
        _row("pipeline", "Keras ImageDataGenerator.flow_from_directory", rate["generator"], ips, gen_ratio,
             ">= 5x", gen_ratio >= 5.0),
        _row("pipeline", "image_dataset_from_directory + augmentation layers", rate["layers"], ips, layers_ratio,
             ">= 1.5x", layers_ratio >= 1.5, "decodes every epoch; no shear layer (less work than the others)"),
        _row("pipeline", "floor: augmenting cached tensors alone", rate["augment_floor"], ips,
             kk_rate / rate["augment_floor"], note="kagglekit's warp on uint8 tensors in memory, no shuffle"),
        _row("pipeline", "kagglekit (first, decoding epoch)", first, ips, None),
        _row("pipeline", "floor: decode + resize alone", rate["decode_floor"], ips, first_ratio,
             ">= 0.80x", first_ratio >= 0.8, "kagglekit's decode_image; ratio = first epoch / this floor"),
        _row("pipeline", "decode + resize(antialias=True), the common way", rate["decode_common"], ips,
             rate["decode_floor"] / rate["decode_common"],
             note="kagglekit before issue 5; ratio = kagglekit's decode floor / this"),
    ]


# ---- part 2: training-step overhead ---------------------------------------------------------

def bench_training(comp, paths, labels, s: BenchSettings, workdir: Path) -> list[dict]:
    """Training images per second: kagglekit's loop vs plain model.fit on in-memory arrays."""
    import keras

    from kagglekit.core.config import TrainConfig
    from kagglekit.data.pipeline import inference_dataset, training_dataset
    from kagglekit.runs.folder import RunFolder
    from kagglekit.training.fold import _callbacks, _targets, build_compiled_model, fold_plan

    n_train = min(s.train_images, len(paths) * 4 // 5)
    n_val = max(1, min(n_train // 4, len(paths) - n_train))
    train_paths, val_paths = paths[:n_train], paths[n_train:n_train + n_val]
    y = _targets(np.asarray(labels), comp.n_classes)
    y_train, y_val = y[:n_train], y[n_train:n_train + n_val]
    config = TrainConfig(model=s.train_model, image_size=s.image_size, batch_size=s.batch_size,
                         augment=s.augment, epochs=10_000, patience=10_000, seed=s.seed)
    models = {}
    for name in ("kagglekit", "plain"):
        keras.utils.set_random_seed(s.seed)  # the same initial weights for both
        models[name] = build_compiled_model(comp, config)
    train_ds = training_dataset(train_paths, y_train, s.image_size, s.batch_size, s.augment, seed=s.seed)
    val_ds = inference_dataset(val_paths, s.image_size, s.batch_size, labels=y_val, cache="")
    x_train = decoded_images(train_paths, s.image_size).astype(np.float32)
    x_val = decoded_images(val_paths, s.image_size).astype(np.float32)
    fold = RunFolder(workdir).fold(0)
    fold.path.mkdir(parents=True, exist_ok=True)
    steps = -(-n_train // s.batch_size)

    def kagglekit_epoch():
        models["kagglekit"].fit(train_ds, validation_data=val_ds, epochs=1, verbose=0,
                                callbacks=_callbacks(config, fold, 1, fold_plan(config, None, steps)))

    def plain_epoch():
        models["plain"].fit(x_train, y_train, batch_size=s.batch_size, validation_data=(x_val, y_val),
                            epochs=1, verbose=0, shuffle=True)

    times = _interleaved({"kagglekit": kagglekit_epoch, "plain": plain_epoch}, s.train_rounds, "training")
    kk, plain = n_train / times["kagglekit"], n_train / times["plain"]
    note = f"{s.train_model}, {n_train} training + {n_val} validation images per epoch"
    return [
        _row("training", "kagglekit: augmented tf.data + its callbacks", kk, "images/s", 1.0, note=note),
        _row("training", "plain model.fit, decoded arrays in memory, no augmentation", plain, "images/s",
             kk / plain, ">= 0.95x", kk / plain >= 0.95, note),
    ]


def _step_times(model, it, steps: int) -> tuple[float, float]:
    """(seconds waiting for input, seconds in total) over STEPS training steps."""
    waited = total = 0.0
    for _ in range(steps):
        started = time.perf_counter()
        x, y = next(it)
        got = time.perf_counter()
        model.train_on_batch(x, y)  # returns numbers, so the step has finished
        waited, total = waited + got - started, total + time.perf_counter() - started
    return waited, total


def bench_steps(comp, paths, labels, s: BenchSettings) -> list[dict]:
    """Training steps fed by kagglekit's pipeline, float32 vs S.precision, each with and without XLA:
    images/s, training GFLOP/s against the CPU's peak, and the share of each step spent waiting for input.
    S.step_models may name several models, comma-separated: each is measured."""
    import keras

    from kagglekit.bench.flops import this_cpu_peak, training_flops
    from kagglekit.data.pipeline import training_dataset
    from kagglekit.models.registry import create_model
    from kagglekit.training.devices import _compute_capability, resolve_precision
    from kagglekit.training.fold import _targets

    y = _targets(np.asarray(labels), comp.n_classes)
    ds = training_dataset(paths, y, s.image_size, s.batch_size, s.augment, seed=s.seed).repeat()
    loss = "binary_crossentropy" if comp.n_classes == 2 else "sparse_categorical_crossentropy"
    # auto: what the device runs fastest in theory (mixed bfloat16 on a CPU); each with and without XLA.
    other = "mixed_bfloat16" if s.precision == "auto" and _compute_capability() is None else \
        resolve_precision(s.precision, _compute_capability())
    peak = this_cpu_peak()
    rows = [_row("steps", "CPU peak, float32", peak.gflops, "GFLOP/s", note=peak.how)]
    for name in [m.strip() for m in (s.step_models or s.train_model).split(",") if m.strip()]:
        flops = training_flops(create_model(name, (s.image_size, s.image_size, 3), comp.n_classes))
        first = None
        for policy, jit in (("float32", False), ("float32", True), (other, False), (other, True)):
            keras.mixed_precision.set_global_policy(policy)
            try:
                model = create_model(name, (s.image_size, s.image_size, 3), comp.n_classes)
                model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss, jit_compile=jit)
                it = iter(ds)
                _step_times(model, it, max(3, len(paths) // s.batch_size + 1))  # warm-up: compile, fill the cache
                waited, total = _step_times(model, it, s.steps)
            finally:
                keras.mixed_precision.set_global_policy("float32")
            rate = s.steps * s.batch_size / total
            gflops = rate * flops / 1e9
            row = _row("steps", f"{name} at {s.image_size} px, {policy}{' + XLA' if jit else ''}", rate, "images/s",
                       note=f"{flops / 1e9:.3f} GFLOP per training image: {gflops:.1f} GFLOP/s, "
                            f"{100 * gflops / peak.gflops:.0f}% of the float32 peak; "
                            f"{100 * waited / total:.1f}% of step time waiting for input")
            first = first or row
            row["ratio"] = first["value"] / rate
            rows.append(row)
    return rows


# ---- part 3: start-up -----------------------------------------------------------------------

def _script(name: str) -> str | None:
    beside = Path(sys.executable).parent / name  # the same environment as this process
    return str(beside) if beside.exists() else shutil.which(name)


def bench_startup(comp, data_dir: Path, s: BenchSettings) -> list[dict]:
    """Median wall time of CLI commands in fresh processes, interleaved."""
    kk, kaggle = _script("kagglekit"), _script("kaggle")
    commands = {"kagglekit --help": [kk, "--help"]}
    if comp.files.sample_submission:
        sample = Path(data_dir) / comp.files.sample_submission
        commands["kagglekit validate"] = [kk, "validate", str(sample), "-c", comp.slug, "--data-dir", str(data_dir)]
    if kaggle:
        commands["kaggle --help"] = [kaggle, "--help"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    times = {name: [] for name in commands}
    for _ in range(s.startup_repeats):
        for name, cmd in commands.items():
            started = time.perf_counter()
            done = subprocess.run(cmd, capture_output=True, text=True, env=env)
            times[name].append(time.perf_counter() - started)
            if done.returncode:
                raise RuntimeError(f"{name} failed: {(done.stderr or done.stdout).strip()[-300:]}")
    median = {name: statistics.median(t) for name, t in times.items()}
    base = median["kagglekit --help"]
    rows = [_row("startup", name, t, "s", t / base) for name, t in median.items()]
    for row in rows:
        if row["contender"] == "kaggle --help":
            row.update(target=">= 1.0x", met=row["ratio"] >= 1.0, note="ratio = its time / kagglekit --help's")
    return rows


# ---- part 4: memory -------------------------------------------------------------------------

# A small fresh interpreter starts the command and reports its children's peak RSS, so the
# memory of this (large) process, shared at fork time, is not counted as the child's.
_PEAK_RSS = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[2:])\n"
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(code)\n"
)


def run_peak_rss(cmd: list[str], env: dict | None = None) -> tuple[int, float, str]:
    """Run CMD; return (exit code, peak resident memory in MB, last lines of its output)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "maxrss"
        done = subprocess.run([sys.executable, "-c", _PEAK_RSS, str(report), *cmd], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        kib = int(report.read_text()) if report.exists() else 0  # ru_maxrss is in KiB on Linux
    return done.returncode, kib / 1024, done.stdout[-500:]


def bench_memory(comp, data_dir: Path, s: BenchSettings, workdir: Path) -> list[dict]:
    """Peak RSS of `kagglekit train` on every image: 2 folds (all images cached), fold 0, 1 epoch."""
    cmd = [_script("kagglekit"), "train", "-c", str(comp.source or comp.slug), "--data-dir", str(data_dir),
           "--folds", "2", "--fold", "0", "--epochs", "1", "--model", s.memory_model,
           "--image-size", str(s.image_size), "--batch-size", str(s.batch_size), "--augment", s.augment,
           "--run-dir", str(Path(workdir) / "memory_run"), "--quiet"]
    if s.limit:
        cmd += ["--sample", str(s.limit)]
    code, mb, tail = run_peak_rss(cmd, {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if code:
        raise RuntimeError(f"kagglekit train failed (exit {code}): {tail.strip()}")
    note = (f"{s.memory_model}, {s.image_size} px, --folds 2 --fold 0 --epochs 1: "
            "half the images trained, half validated, all cached")
    return [_row("memory", "kagglekit train, peak RSS", mb, "MB", target="< 3072 MB", met=mb < 3072, note=note)]


# ---- the whole run --------------------------------------------------------------------------

def run_bench(comp, data_dir: Path, settings: BenchSettings = BenchSettings(), parts=DEFAULT_PARTS) -> dict:
    """Run the chosen PARTS on the competition's training images; return rows and the machine."""
    from kagglekit.data.catalog import build_catalog

    unknown = set(parts) - set(PARTS)
    if unknown:
        from kagglekit.core.errors import KagglekitError

        raise KagglekitError(f"unknown benchmark part '{sorted(unknown)[0]}'; valid: {', '.join(PARTS)}")
    from kagglekit.bench.results import machine_description

    started = time.perf_counter()
    machine = machine_description()
    train = build_catalog(comp, Path(data_dir), with_test=False).train
    train = train.sample(frac=1.0, random_state=settings.seed)  # classes mixed, for any --limit
    if settings.limit:
        train = train.head(settings.limit)
    paths, labels = list(train["path"]), train["label"].to_numpy()
    rows = []
    with tempfile.TemporaryDirectory(prefix="kagglekit-bench-") as work:
        work = Path(work)
        if "pipeline" in parts:
            rows += bench_pipeline(paths, labels, comp.labels.classes, settings, work / "pipeline")
        if "training" in parts:
            rows += bench_training(comp, paths, labels, settings, work / "training")
        if "startup" in parts:
            rows += bench_startup(comp, data_dir, settings)
        if "memory" in parts:
            rows += bench_memory(comp, data_dir, settings, work)
        if "steps" in parts:
            rows += bench_steps(comp, paths, labels, settings)
    machine["load_average_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return {"rows": rows, "machine": machine, "settings": settings, "n_images": len(paths),
            "seconds": time.perf_counter() - started}
