"""Training settings: defaults here, then the competition's [train] table, then command-line flags.

The resolved settings are saved in every run folder (config.json) so that a
run can be resumed, ensembled, or rebuilt inside a Kaggle kernel.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from pathlib import Path

from kagglekit.errors import KagglekitError


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides what a training run computes."""

    folds: int = 5
    fold: int | None = None  # train only this fold (for fanning folds out)
    epochs: int = 30
    image_size: int = 128
    model: str = "bn_cnn"
    weights: str = "none"  # backbones: none, imagenet, or a local weights file
    augment: str = "course"
    batch_size: int = 32
    learning_rate: float = 1e-3
    patience: int = 5  # early stopping, in epochs without improvement
    sample: int | None = None  # stratified subset for quick trials
    seed: int = 42
    tta: int = 2  # test-time views averaged by predict (1 = none, 2 = + flip)
    precision: str = "auto"  # auto | float32 | mixed_float16 | mixed_bfloat16
    budget: float | None = None  # seconds for the whole run; None = epochs decide

    def replace(self, **changes) -> "TrainConfig":
        """A copy with CHANGES applied, ignoring the ones that are None."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


# Settings that change what is learnt: runs merged into one ensemble must agree on them.
MODEL_SETTINGS = ("folds", "image_size", "model", "weights", "augment", "seed", "sample")


def resolve_config(competition_defaults: dict, **flags) -> TrainConfig:
    """Apply the competition's [train] defaults, then the flags that were given."""
    valid = {f.name for f in fields(TrainConfig)}
    unknown = set(competition_defaults) - valid
    if unknown:
        raise KagglekitError(f"unknown key 'train.{sorted(unknown)[0]}' in the competition file; valid: {', '.join(sorted(valid))}")
    config = TrainConfig().replace(**competition_defaults).replace(**flags)
    check_config(config)
    return config


def check_config(config: TrainConfig) -> None:
    """Reject settings that cannot work, with what to do instead."""
    if config.folds < 2:
        raise KagglekitError(f"--folds {config.folds} is too few; use 2 or more (5 is usual)")
    if config.fold is not None and not 0 <= config.fold < config.folds:
        raise KagglekitError(f"--fold {config.fold} is out of range; folds are numbered 0 to {config.folds - 1}")
    for name in ("epochs", "image_size", "batch_size", "tta"):
        if getattr(config, name) < 1:
            raise KagglekitError(f"--{name.replace('_', '-')} must be at least 1")
    if config.image_size < 8:
        raise KagglekitError("--image-size must be at least 8 pixels")
    if config.sample is not None and config.sample < 2 * config.folds:
        raise KagglekitError(f"--sample {config.sample} is too small for {config.folds} folds; use at least {2 * config.folds}")


def config_from_json(data: dict) -> TrainConfig:
    """Rebuild a TrainConfig saved in a run folder, ignoring keys newer versions added."""
    valid = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in data.items() if k in valid})


def default_data_dir(slug: str) -> Path:
    """Where `kagglekit fetch` puts a competition's files."""
    return Path("data") / slug
