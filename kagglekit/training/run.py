"""A training run from a competition and settings, as `kagglekit train` and `kagglekit.train()` start it.

The settings are resolved (kagglekit's defaults, then the competition's [train] table, then the ones
given) and checked against the registries before any image is read; a run folder that exists must have
been trained with the same settings (a resume); then the catalog is built and the folds are trained.
"""

from __future__ import annotations

import time
from pathlib import Path

from kagglekit.competition.definition import Competition
from kagglekit.core.config import TrainConfig, images_per_class, resolve_config, train_ranges
from kagglekit.core.errors import KagglekitError
from kagglekit.data.augment import get_augmentation
from kagglekit.data.catalog import build_catalog, resolve_data_dir
from kagglekit.models.registry import get_model_spec, is_backbone, list_models, min_image_size
from kagglekit.runs.folder import RunFolder, check_resume, default_run_dir
from kagglekit.training.crossval import train_folds
from kagglekit.training.recipe import planned_config, recorded_choice


def training_config(comp: Competition, settings: dict) -> TrainConfig:
    """COMP's [train] defaults with SETTINGS (setting name -> value) applied; names and combinations checked."""
    config = resolve_config(comp.train_defaults, **settings)
    get_augmentation(config.augment)  # a bad name fails before any data is read
    if config.model not in list_models():
        raise KagglekitError(f"unknown model '{config.model}'; valid models: {', '.join(list_models())}")
    if config.image_size < min_image_size(config.model):
        raise KagglekitError(f"model '{config.model}' needs --image-size {min_image_size(config.model)} or more")
    taken = get_model_spec(config.model).options()
    wanted = [*config.model_options(), *(["stem"] if config.whitening_stem else [])]
    for option in wanted:
        if option not in taken:
            flag = {"stem": "--whitening-stem", "bn_scale": "--no-bn-scale"}.get(option, f"--{option}")
            raise KagglekitError(f"model '{config.model}' does not take {flag}; use bn_cnn, bn_cnn_small or "
                                 f"res_cnn, or drop {flag}")
    per_class = images_per_class(config)
    if config.sample and config.sample < per_class * comp.n_classes:
        raise KagglekitError(f"--sample {config.sample} is too small for {comp.n_classes} classes and --folds "
                             f"{config.folds}; use --sample {per_class * comp.n_classes} or more")
    if config.alternating_flip and not get_augmentation(config.augment).hflip:
        raise KagglekitError(f"--alternating-flip needs an augmentation that mirrors, and '{config.augment}' does "
                             "not; use e.g. --augment flip or medium, or drop --alternating-flip")
    if config.head_epochs and not is_backbone(config.model):
        backbones = ", ".join(m for m in list_models() if is_backbone(m))
        raise KagglekitError(f"--head-epochs fine-tunes a pretrained backbone; '{config.model}' has none (use "
                             f"{backbones} with --weights)")
    return config


def train_run(comp: Competition, settings: dict, data_dir: Path | None = None, run_dir: Path | None = None,
              started: float | None = None, callbacks: tuple = ()) -> tuple[Path, dict]:
    """Train COMP with SETTINGS into RUN_DIR (default: named after the settings, so the same call resumes);
    returns the run folder and its OOF scores. A --budget counts from STARTED (default: now)."""
    started = time.time() if started is None else started
    config = training_config(comp, settings)
    ranges = train_ranges(comp.train_defaults, settings)
    run = RunFolder(run_dir or default_run_dir(comp.slug, config))
    if run.is_run():  # refuse changed settings before the images are read
        config = recorded_choice(run.read_config(), config, ranges)
        check_resume(run, config)
    data = resolve_data_dir(comp, data_dir)
    catalog = build_catalog(comp, data)  # test files too: a missing test image should not wait for predict
    precision = None
    if config.budget and ranges and not run.is_run():
        config, precision = planned_config(catalog, config, ranges, lambda: config.budget - (time.time() - started))
    return train_folds(catalog, config, data, run.path, started=started, callbacks=tuple(callbacks),
                       precision=precision)
