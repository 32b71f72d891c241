"""Training settings: defaults here, then the competition's [train] table, then command-line flags.

The resolved settings are saved in every run folder (config.json) so that a
run can be resumed, ensembled, or rebuilt inside a Kaggle kernel.
"""

from __future__ import annotations

import dataclasses
import re
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
    schedule: str = "plateau"  # learning rate: plateau (halve on a plateau) | cosine | onecycle
    warmup: float = 0.05  # cosine: fraction of the steps spent warming up linearly
    label_smoothing: float = 0.0
    weight_decay: float = 0.0  # > 0 uses AdamW (decoupled weight decay) instead of Adam

    def replace(self, **changes) -> "TrainConfig":
        """A copy with CHANGES applied, ignoring the ones that are None."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


# Settings that change what is learnt: runs merged into one ensemble must agree on them.
MODEL_SETTINGS = ("folds", "image_size", "model", "weights", "augment", "seed", "sample")


SCHEDULES = ("plateau", "cosine", "onecycle")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([hms])")


def parse_duration(text: str) -> float:
    """Seconds in a duration such as '45m', '2h', '8h30m', '90s' or '1.5h'."""
    compact = str(text).strip().lower().replace(" ", "")
    parts = _DURATION.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact or len({u for _, u in parts}) != len(parts):
        raise KagglekitError(f"cannot read the duration '{text}'; write it like 45m, 2h, 8h30m or 90s")
    seconds = sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)
    if seconds <= 0:
        raise KagglekitError(f"the duration '{text}' is zero; give a positive time such as 45m")
    return seconds


def resolve_config(competition_defaults: dict, **flags) -> TrainConfig:
    """Apply the competition's [train] defaults, then the flags that were given."""
    valid = {f.name for f in fields(TrainConfig)}
    unknown = set(competition_defaults) - valid
    if unknown:
        raise KagglekitError(f"unknown key 'train.{sorted(unknown)[0]}' in the competition file; valid: {', '.join(sorted(valid))}")
    if isinstance(competition_defaults.get("budget"), str):  # budget = "45m" in a TOML file
        competition_defaults = {**competition_defaults, "budget": parse_duration(competition_defaults["budget"])}
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
    if config.precision not in PRECISIONS:
        raise KagglekitError(f"unknown precision '{config.precision}'; valid: {', '.join(PRECISIONS)}")
    if config.schedule not in SCHEDULES:
        raise KagglekitError(f"unknown schedule '{config.schedule}'; valid: {', '.join(SCHEDULES)}")
    if not 0 <= config.warmup < 1 or not 0 <= config.label_smoothing < 0.5 or config.weight_decay < 0:
        raise KagglekitError("warmup must be in [0, 1), label_smoothing in [0, 0.5) and weight_decay 0 or more")
    if config.budget is not None and config.budget <= 0:
        raise KagglekitError("--budget must be positive, e.g. 45m, 2h or 8h30m")
    if config.sample is not None and config.sample < 2 * config.folds:
        raise KagglekitError(f"--sample {config.sample} is too small for {config.folds} folds; use at least {2 * config.folds}")


def config_from_json(data: dict) -> TrainConfig:
    """Rebuild a TrainConfig saved in a run folder, ignoring keys newer versions added."""
    valid = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in data.items() if k in valid})


def default_data_dir(slug: str) -> Path:
    """Where `kagglekit fetch` puts a competition's files."""
    return Path("data") / slug
