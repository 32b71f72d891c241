"""Fitting one fold: model, callbacks, checkpoints that survive a crash, out-of-fold predictions.

The fold's files (best.keras, history.csv, backup/, oof.csv, result.json) are
named by kagglekit.runs.folder. best.keras is renamed into place, never
half-written; backup/ holds BackupAndRestore's state so a killed run resumes
from its last finished epoch; result.json is written last and marks the fold
as done, with the settings it was trained with.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd

from kagglekit.competition.definition import Competition
from kagglekit.core.atomic import write_json
from kagglekit.core.config import BUDGET_MAX_EPOCHS, TrainConfig, config_to_json
from kagglekit.models.inference import predict_paths, tta_views
from kagglekit.runs.folder import FoldFiles, RunFolder, load_fold_model, read_history
from kagglekit.runs.records import FoldResult, OofTable
from kagglekit.training.callbacks import EpochLog, LogLearningRate, PublishCheckpoint

log = logging.getLogger("kagglekit")


def fold_plan(config: TrainConfig, deadline: float | None, steps: int):
    """The fold's time plan: it times the first steps and decides how many epochs fit its share of --budget."""
    from kagglekit.training.budget import FoldPlan

    views = tta_views(config.augment, config.tta, config.tta_shift)
    return FoldPlan(config.epochs, steps, deadline, reserve_per_val=len(views))


def _callbacks(config: TrainConfig, fold: FoldFiles, n_folds: int, plan, stage: int = 0):
    """The fold's callbacks. STAGE 1 (fine-tuning's head-only epochs) runs at a constant rate without early
    stopping; STAGE 2 schedules the rate over the epochs after it; 0: one stage, as for a model from scratch."""
    from kagglekit.training.schedules import LearningRate

    history = read_history(fold)
    best_so_far = float(history["val_loss"].min()) if "val_loss" in history and len(history) else None
    partial = fold.partial_model
    backup_kwargs = {"double_checkpoint": True} if "double_checkpoint" in inspect.signature(
        keras.callbacks.BackupAndRestore).parameters else {}
    if stage == 1:
        schedule = []
    elif config.schedule == "plateau":
        schedule = [keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=max(1, config.patience // 2))]
    else:
        skip = config.head_epochs if stage == 2 else 0
        schedule = [LearningRate(config.schedule, config.learning_rate, config.warmup, plan, skip_epochs=skip)]
    return [
        plan,
        *schedule,
        LogLearningRate(),  # before CSVLogger: every stage logs the same columns into one history.csv
        keras.callbacks.CSVLogger(str(fold.history), append=True),
        # The checkpoint goes to a temporary name and is renamed by PublishCheckpoint,
        # so best.keras is always a complete file; after a restart, only a better
        # model than the best already on disk replaces it.
        keras.callbacks.ModelCheckpoint(
            str(partial), monitor="val_loss", save_best_only=True, initial_value_threshold=best_so_far
        ),
        PublishCheckpoint(partial, fold.model),
        # A cosine or one-cycle schedule decides the end itself; its high-rate phase would trip early stopping.
        *([keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience, restore_best_weights=True)]
          if config.schedule == "plateau" and stage != 1 else []),
        keras.callbacks.BackupAndRestore(str(fold.backup), **backup_kwargs),
        EpochLog(fold.number, n_folds, plan),
    ]


def _targets(labels: np.ndarray, n_classes: int) -> np.ndarray:
    return labels.astype("float32").reshape(-1, 1) if n_classes == 2 else labels.astype("int32")


def build_compiled_model(comp: Competition, config: TrainConfig, jit: bool = False, stage: int = 0,
                         learning_rate: float | None = None, stem=None):
    """The configured model, compiled with Adam (AdamW with weight decay) and the loss that fits its head.

    JIT compiles the training step with XLA (devices.Precision decides). STAGE 1 or 2 of fine-tuning
    freezes the backbone, or unfreezes it (finetune.py), before compiling; LEARNING_RATE overrides the setting's.
    STEM: the whitening stem's weights (models/whitening.py), when --whitening-stem is on.
    """
    from kagglekit.models.finetune import freeze_backbone, unfreeze_backbone
    from kagglekit.models.registry import create_model

    options = {**config.model_options(), **({"stem": stem} if stem is not None else {})}
    model = create_model(config.model, (config.image_size, config.image_size, 3), comp.n_classes, config.weights,
                         **options)
    if stage == 1:
        freeze_backbone(model)
    elif stage == 2:
        unfreeze_backbone(model, config.unfreeze)
    rate = learning_rate or config.learning_rate
    if comp.n_classes == 2:
        loss = keras.losses.BinaryCrossentropy(label_smoothing=config.label_smoothing)
    elif config.label_smoothing:  # Keras smooths one-hot targets only
        from kagglekit.training.techniques import SmoothedSparseCrossentropy

        loss = SmoothedSparseCrossentropy(comp.n_classes, config.label_smoothing)
    else:
        loss = keras.losses.SparseCategoricalCrossentropy()
    if config.weight_decay:
        optimizer = keras.optimizers.AdamW(rate, weight_decay=config.weight_decay)
    else:
        optimizer = keras.optimizers.Adam(rate)
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"], jit_compile=jit)
    return model


PROBE_BATCHES = 5
MIN_PROBE_STEPS = 2000  # training steps per fold below which --precision auto does not measure
MIN_PROBE_BUDGET = 600  # seconds of --budget below which it does not either


def run_precision(comp: Competition, config: TrainConfig, train_rows: pd.DataFrame, run: RunFolder):
    """The precision RUN's folds train with: recorded by an earlier start of the run, or chosen now (and recorded)."""
    from kagglekit.training.devices import Precision

    recorded = run.read_precision()
    if recorded is not None:
        return Precision.from_json(recorded)
    precision = choose_precision(comp, config, train_rows)
    run.record_precision(precision.to_json())
    return precision


def choose_precision(comp: Competition, config: TrainConfig, train_rows: pd.DataFrame):
    """The precision CONFIG's folds would train with.

    On a CPU with --precision auto the choice is measured on the first batches of
    TRAIN_ROWS; measurements are cached per model shape and machine, so that a
    second run of the same shape does not measure again.
    """
    from kagglekit.training.devices import Precision, precision_for

    steps = config.epochs * -(-len(train_rows) // config.batch_size)
    planned_by_budget = config.budget and config.epochs >= BUDGET_MAX_EPOCHS  # else the epochs bound the run
    worth = config.budget >= MIN_PROBE_BUDGET if planned_by_budget else steps >= MIN_PROBE_STEPS
    if config.precision == "auto" and not worth:
        # The measurement costs about as much as a few hundred steps: on a short run it cannot pay off.
        return Precision("float32")
    return precision_for(config, lambda: _cached_probe(comp, config, train_rows))


def _cached_probe(comp: Competition, config: TrainConfig, train_rows: pd.DataFrame):
    import tensorflow as tf

    from kagglekit.data.catalog import cache_dir
    from kagglekit.data.pipeline import training_dataset
    from kagglekit.training.devices import StepSpeed, cpu_features, probe_speeds

    key = json.dumps([config.model, config.image_size, config.model_options(), config.batch_size, comp.n_classes,
                      config.weights, cpu_features(), tf.__version__])  # the model's shape, the machine
    path = cache_dir() / "precision-probes.json"
    try:
        cached = json.loads(path.read_text())
    except (OSError, ValueError):
        cached = {}
    if key in cached:
        return [StepSpeed(**s) for s in cached[key]]
    rows = train_rows.head(config.batch_size * PROBE_BATCHES)
    ds = training_dataset(list(rows["path"]), _targets(rows["label"].to_numpy(), comp.n_classes), config.image_size,
                          config.batch_size, config.augment, seed=config.seed, cache=None)
    batches = [(x.numpy(), y.numpy()) for x, y in ds.take(PROBE_BATCHES)]
    log.info("precision auto: timing a few training steps in float32 and mixed bfloat16, with and without XLA")
    speeds = probe_speeds(lambda jit: build_compiled_model(comp, config, jit), batches)
    write_json(path, {**cached, key: [vars(s) for s in speeds]})
    return speeds


def check_backup(model, fold: FoldFiles) -> None:
    """Drop a BackupAndRestore state that a crash mid-write left unreadable, so the fold restarts cleanly.

    Keras falls back to the previous copy (.bkp) by itself when it has one;
    only when no copy loads is the backup removed, with a warning.
    """
    weights = fold.backup / "latest.weights.h5"
    if not weights.exists():
        return
    for candidate in (weights, weights.with_name(weights.name + ".bkp")):
        try:
            json.loads((fold.backup / "training_metadata.json").read_text() or "{}")
            model.load_weights(str(candidate))
            return
        except Exception:  # noqa: BLE001 - any failure to read means the copy is damaged
            continue
    log.warning("fold %d: the backup in %s is damaged; restarting the fold from its first epoch", fold.number, fold.backup)
    shutil.rmtree(fold.backup)


@dataclass
class FoldData:
    """A fold's input pipelines: augmented training batches, plain validation batches, steps per epoch."""

    train: object
    val: object
    steps: int
    flip_epoch: object = None  # tf.Variable the alternating flips follow (--alternating-flip)
    stem: tuple | None = None  # the whitening stem's (kernel, bias) (--whitening-stem)


STEM_IMAGES = 256  # training images the whitening stem is computed from


def fold_data(comp: Competition, config: TrainConfig, train_rows: pd.DataFrame, val_rows: pd.DataFrame,
              k: int) -> FoldData:
    """Step 1 of a fold: its training and validation pipelines (CONFIG's batch is the global batch)."""
    import tensorflow as tf

    from kagglekit.data.pipeline import decoded_dataset, inference_dataset, training_dataset
    from kagglekit.models.whitening import whitening_weights

    n = comp.n_classes
    flip_epoch = tf.Variable(0, dtype=tf.int64, trainable=False) if config.alternating_flip else None
    train_ds = training_dataset(
        list(train_rows["path"]), _targets(train_rows["label"].to_numpy(), n),
        config.image_size, config.batch_size, config.augment, seed=config.seed + k, flip_epoch=flip_epoch,
    )
    val_ds = inference_dataset(
        list(val_rows["path"]), config.image_size, config.batch_size,
        labels=_targets(val_rows["label"].to_numpy(), n), cache="",
    )
    stem = None
    if config.whitening_stem:  # the same rows every time, so a resumed fold computes the same stem
        images = np.stack(list(decoded_dataset(list(train_rows["path"])[:STEM_IMAGES], config.image_size,
                                               cache=None).as_numpy_iterator()))
        stem = whitening_weights(images.astype("float32") / 255.0)
    return FoldData(train_ds, val_ds, -(-len(train_rows) // config.batch_size), flip_epoch, stem)


def technique_callbacks(config: TrainConfig, data: FoldData) -> list:
    """The callbacks of --ema and --alternating-flip; they go first, before the fold's own."""
    from kagglekit.training.techniques import EpochCounter, WeightAverage

    found = []
    if config.ema:
        found.append(WeightAverage(config.ema, data.train))
    if data.flip_epoch is not None:
        found.append(EpochCounter(data.flip_epoch))
    return found


def train_fold_model(comp: Competition, config: TrainConfig, data: FoldData, fold: FoldFiles, plan, strategy,
                     jit: bool, callbacks: tuple = ()):
    """Steps 2-4 of a fold: build the model, its callbacks, and fit it (in two stages when fine-tuning)."""

    def build(learning_rate=None, stage=0):
        with strategy.scope():
            model = build_compiled_model(comp, config, jit, stage, learning_rate, data.stem)
            check_backup(model, fold)
        return model

    def fit(model, first_epoch, last_epoch, stage=0):
        own = [*technique_callbacks(config, data), *_callbacks(config, fold, config.folds, plan, stage)]
        model.fit(data.train, validation_data=data.val, initial_epoch=first_epoch, epochs=last_epoch, verbose=0,
                  shuffle=False, callbacks=[*own, *callbacks])

    if config.head_epochs:
        from kagglekit.models.finetune import fit_two_stages

        return fit_two_stages(build, fit, fold, config, plan)
    model = build()
    fit(model, 0, config.epochs)
    return model


def best_model(run: RunFolder, k: int, model):
    """Step 5 of a fold: the best checkpoint, or (no epoch gave a finite validation loss) the last weights, saved."""
    fold = run.fold(k)
    if fold.model.exists():
        return load_fold_model(run, k)
    model.save(fold.partial_model)
    os.replace(fold.partial_model, fold.model)
    return model


def write_fold_result(comp: Competition, config: TrainConfig, model, train_rows: pd.DataFrame,
                      val_rows: pd.DataFrame, run: RunFolder, k: int, started: float, settings: dict) -> FoldResult:
    """Step 6 of a fold: out-of-fold predictions with test-time views, scores, and result.json (written last)."""
    from kagglekit.competition.metrics import score

    fold = run.fold(k)
    views = tta_views(config.augment, config.tta, config.tta_shift)
    proba = predict_paths(model, list(val_rows["path"]), config.image_size, config.batch_size, comp.n_classes, views)
    labels = val_rows["label"].to_numpy()
    oof = OofTable.from_predictions(val_rows["id"].to_numpy(), k, labels, proba, comp.labels.classes)
    history = read_history(fold)
    best_epoch = int(history["val_loss"].idxmin()) + 1 if "val_loss" in history and history["val_loss"].notna().any() else None
    result = FoldResult(
        fold=k,
        score=score(comp.metric, labels, proba),
        accuracy=score("accuracy", labels, proba),
        metric=comp.metric,
        best_epoch=best_epoch,
        epochs_run=len(history),
        n_train=len(train_rows),
        n_val=len(val_rows),
        seconds=round(time.time() - started, 1),  # the OOF prediction counts in the fold's time
        settings=settings,
    )
    run.write_fold_outputs(k, oof, result)  # the result last: it marks the fold as done
    return result


def fit_fold(
    comp: Competition,
    config: TrainConfig,
    train_rows: pd.DataFrame,
    val_rows: pd.DataFrame,
    run: RunFolder,
    k: int,
    deadline: float | None = None,
    precision=None,
    callbacks: tuple = (),
) -> FoldResult:
    """Train fold K of RUN (resuming if it was interrupted) and return its result.

    PRECISION (a devices.Precision) is the run's; None: decided from the settings alone. CALLBACKS (Keras
    callbacks of the user's, from the Python API) run after kagglekit's own, in every stage.
    """
    from kagglekit.training.devices import training_strategy

    fold = run.fold(k)
    fold.path.mkdir(parents=True, exist_ok=True)
    started = time.time()
    settings = config_to_json(config)  # as the user gave them, before the batch becomes the global batch
    keras.utils.set_random_seed(config.seed + k)
    strategy, config = training_strategy(config, precision)  # replicas and precision; batch becomes the global batch
    data = fold_data(comp, config, train_rows, val_rows, k)
    plan = fold_plan(config, deadline, data.steps)
    model = train_fold_model(comp, config, data, fold, plan, strategy, bool(precision and precision.jit), callbacks)
    model = best_model(run, k, model)
    return write_fold_result(comp, config, model, train_rows, val_rows, run, k, started, settings)
