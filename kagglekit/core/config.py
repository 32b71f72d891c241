"""Training settings: defaults here, then the competition's [train] table, then command-line flags.

Every setting is declared once, as a field of TrainConfig with its help text:
the field is a `[train]` key of a competition file, a flag of `kagglekit
train` and `kagglekit kernel build` (kagglekit/cli/app.py's train_options builds the flags
from the fields), and part of the settings a run folder keeps (config.json).
A resumed run must have the same settings, except the few in RESUMABLE.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field, fields
from pathlib import Path

from kagglekit.core.errors import KagglekitError
from kagglekit.core.fields import checked_value, field_types, type_name


def setting(default, help: str, parse=None):
    """A TrainConfig field with its help text; PARSE turns the flag's or TOML's text into the value."""
    return field(default=default, metadata={"help": help, "parse": parse})


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


_DURATION = re.compile(r"(\d+(?:\.\d+)?)([hms])")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides what a training run computes."""

    folds: int = setting(5, "Number of stratified folds (1: one model, validated on a stratified 20% holdout).")
    fold: int | None = setting(None, "Train only fold K (0-based), e.g. to run folds in parallel.")
    epochs: int = setting(30, "Most epochs per fold (early stopping may end a fold sooner). With --budget the time "
                              "plan decides, and --epochs, when given, caps it.")
    image_size: int = setting(128, "Input size in pixels (square).")
    model: str = setting("bn_cnn", "Model name ('kagglekit models' lists them).")
    weights: str = setting("none", "Backbone weights: none, imagenet, or a weights file (in a kernel: under /kaggle/input).")
    augment: str = setting("course", "Augmentation preset ('kagglekit models' lists them).")
    batch_size: int = setting(32, "Batch size per device (multiplied by the number of GPUs).")
    learning_rate: float = setting(1e-3, "Initial (peak) learning rate.")
    patience: int = setting(5, "Early stopping: epochs without a better validation loss (plateau schedule).")
    sample: int | None = setting(None, "Train on a stratified subset of N images (quick trials).")
    seed: int = setting(42, "Random seed for folds, augmentation and weights.")
    tta: int = setting(2, "Test-time views per image (1 = none, 2 = + mirror, up to 6).")
    precision: str = setting("auto", "auto, float32, mixed_float16 or mixed_bfloat16.")
    budget: float | None = setting(None, "Time for the whole run, e.g. 45m, 2h, 8h30m: epochs are planned to fit.",
                                   parse=parse_duration)
    schedule: str = setting("plateau", "Learning rate: plateau (halve on a plateau, early stopping), cosine or onecycle.")
    warmup: float = setting(0.05, "Cosine schedule: fraction of the steps spent warming up linearly.")
    label_smoothing: float = setting(0.0, "Label smoothing of the targets (two classes or more), in [0, 0.5).")
    weight_decay: float = setting(0.0, "Decoupled weight decay; above 0 trains with AdamW instead of Adam.")
    width: float = setting(1.0, "Width multiplier: every layer's channels times this (bn_cnn, bn_cnn_small, res_cnn).")
    bn_scale: bool = setting(True, "Batch normalization learns a scale; --no-bn-scale keeps only its bias, as "
                                   "fast-training recipes do (bn_cnn, bn_cnn_small, res_cnn).")
    whitening_stem: bool = setting(False, "A frozen first convolution that whitens 2x2 pixel patches, computed from "
                                          "the fold's training images (bn_cnn, bn_cnn_small, res_cnn).")
    ema: float = setting(0.0, "Exponential moving average of the weights, decay per step (e.g. 0.99; 0 = off): "
                              "validated, saved and predicted with, its batch-norm statistics recomputed.")
    alternating_flip: bool = setting(False, "Mirror each training image in every other epoch instead of at random "
                                            "(needs an augmentation that mirrors).")
    tta_shift: bool = setting(False, "Test-time views shift the image by 1/16 of its size instead of zooming in.")
    # 30: a plain recipe (none of the fast-training techniques) needs about that many: 13 epochs of bn_cnn at 96 px
    # gave folds of 0.77-0.83 on dogs-vs-cats, below 64 px at width 1 (competitions/dogs_vs_cats/README.md).
    min_epochs: int = setting(30, "With --budget and a [train] range of image sizes or widths: the fewest epochs "
                                  "per fold the plan accepts when it picks the size and width.")
    head_epochs: int = setting(0, "Fine-tuning a pretrained backbone: first train only the new head for this many "
                                  "epochs, the backbone frozen (0: everything trains from the start).")
    head_learning_rate: float = setting(1e-3, "Fine-tuning: the learning rate of the head-only epochs "
                                              "(--learning-rate, lower, is the rate of the rest).")
    unfreeze: int = setting(0, "Fine-tuning: after the head-only epochs, how many of the backbone's top layers "
                               "train (0: all); batch normalization stays frozen.")

    def model_options(self) -> dict:
        """The settings that are options of the model's builder (registry.create_model), where not the default."""
        options = {"width": self.width, "bn_scale": self.bn_scale}
        return {k: v for k, v in options.items() if v != getattr(TrainConfig, k)}

    def replace(self, **changes) -> "TrainConfig":
        """A copy with CHANGES applied, ignoring the ones that are None."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


# Settings that may differ when a run folder is trained again: which fold, how long, how many
# test-time views. Every other setting shapes the folds' weights and must stay the same.
RESUMABLE = ("fold", "epochs", "budget", "tta", "tta_shift")
BUDGET_MAX_EPOCHS = 1000  # the epochs of a run with --budget and no --epochs: the time plan decides
SCHEDULES = ("plateau", "cosine", "onecycle")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")


def setting_names() -> list[str]:
    """The names of every training setting, in declaration order."""
    return [f.name for f in fields(TrainConfig)]


def setting_help(name: str) -> str:
    """The help text of setting NAME."""
    return next(f.metadata["help"] for f in fields(TrainConfig) if f.name == name)


def setting_types() -> dict[str, tuple[type, ...]]:
    """Setting name -> the Python types its value may have (None included for optional ones)."""
    return field_types(TrainConfig)


def _parsed(values: dict, where: str) -> dict:
    """VALUES with each text parsed where the setting has a parser, and every type checked."""
    types = setting_types()
    parsers = {f.name: f.metadata.get("parse") for f in fields(TrainConfig)}
    out = {}
    for name, value in values.items():
        if isinstance(value, str) and parsers.get(name):
            value = parsers[name](value)
        ok, value = checked_value(value, types[name])
        if not ok:
            raise KagglekitError(f"{where}{name} = {value!r} must be {type_name(types[name])}; fix it and run again")
        out[name] = value
    return out


# [train] keys that may be a range, [smallest, largest]: with --budget the plan picks the value (training/recipe.py).
RANGE_KEYS = ("image_size", "width")


def train_ranges(competition_defaults: dict, given: dict) -> dict[str, tuple]:
    """The [train] ranges, (smallest, largest) per key, that no given setting pins."""
    found = {}
    for name in RANGE_KEYS:
        value = competition_defaults.get(name)
        if isinstance(value, list) and given.get(name) is None:
            found[name] = (min(value), max(value))
    return found


def _without_ranges(values: dict) -> dict:
    """VALUES with each range replaced by its smallest value (what a run without --budget trains with)."""
    out = dict(values)
    for name in RANGE_KEYS:
        if isinstance(out.get(name), list):
            if len(out[name]) != 2 or not all(isinstance(v, (int, float)) for v in out[name]):
                raise KagglekitError(f"train.{name} = {out[name]!r}: a range is [smallest, largest], e.g. [64, 96]")
            out[name] = min(out[name])
    return out


def check_train_table(values: dict, where: str = "") -> None:
    """Refuse an unknown key or a value of the wrong type in a competition's [train] table."""
    valid = set(setting_names())
    unknown = set(values) - valid
    if unknown:
        raise KagglekitError(f"unknown key 'train.{sorted(unknown)[0]}'{where}; valid: {', '.join(sorted(valid))}")
    try:
        values = _without_ranges(values)
        check_config(TrainConfig().replace(**_parsed(values, "train.")))
    except KagglekitError as exc:
        raise KagglekitError(f"{exc} ([train]{where})") from None


def resolve_config(competition_defaults: dict, **flags) -> TrainConfig:
    """Apply the competition's [train] defaults, then the flags that were given (None = not given)."""
    valid = set(setting_names())
    unknown = set(competition_defaults) - valid
    if unknown:
        raise KagglekitError(f"unknown key 'train.{sorted(unknown)[0]}' in the competition file; valid: {', '.join(sorted(valid))}")
    unknown = set(flags) - valid
    if unknown:
        raise KagglekitError(f"unknown training setting '{sorted(unknown)[0]}'; valid: {', '.join(sorted(valid))}")
    toml = _parsed(_without_ranges(competition_defaults), "train.")
    given = _parsed({k: v for k, v in flags.items() if v is not None}, "--")
    config = TrainConfig().replace(**toml).replace(**given)
    if config.budget is not None and "epochs" not in given:
        # With a budget the plan decides the epochs: a competition file's epochs (meant for runs
        # without one) must not end the folds early and leave the budget unused. --epochs still caps.
        config = config.replace(epochs=BUDGET_MAX_EPOCHS)
    check_config(config)
    return config


def images_per_class(config: TrainConfig) -> int:
    """The fewest training images a class needs: one per fold, or (--folds 1) one for the holdout and one to train on."""
    return max(config.folds, 2)


def check_config(config: TrainConfig) -> None:
    """Reject settings that cannot work, with what to do instead."""
    if config.folds < 1:
        raise KagglekitError(f"--folds {config.folds} is too few; use 1 (one model, a 20% holdout) or more (5 is usual)")
    if config.fold is not None and not 0 <= config.fold < config.folds:
        raise KagglekitError(f"--fold {config.fold} is out of range; folds are numbered 0 to {config.folds - 1}")
    for name in ("epochs", "image_size", "batch_size", "tta", "patience", "min_epochs"):
        if getattr(config, name) < 1:
            raise KagglekitError(f"--{name.replace('_', '-')} must be at least 1")
    if config.image_size < 8:
        raise KagglekitError("--image-size must be at least 8 pixels")
    if config.precision not in PRECISIONS:
        raise KagglekitError(f"unknown precision '{config.precision}'; valid: {', '.join(PRECISIONS)}")
    if config.schedule not in SCHEDULES:
        raise KagglekitError(f"unknown schedule '{config.schedule}'; valid: {', '.join(SCHEDULES)}")
    if config.learning_rate <= 0:
        raise KagglekitError("--learning-rate must be positive, e.g. 0.001")
    if not 0 <= config.warmup < 1 or not 0 <= config.label_smoothing < 0.5 or config.weight_decay < 0:
        raise KagglekitError("--warmup must be in [0, 1), --label-smoothing in [0, 0.5) and --weight-decay 0 or more")
    if config.width <= 0 or not 0 <= config.ema < 1:
        raise KagglekitError("--width must be positive (1.0: the model's own) and --ema in [0, 1), e.g. 0.99")
    if config.budget is not None and config.budget <= 0:
        raise KagglekitError("--budget must be positive, e.g. 45m, 2h or 8h30m")
    if config.head_epochs < 0 or config.unfreeze < 0 or config.head_learning_rate <= 0:
        raise KagglekitError("--head-epochs and --unfreeze must be 0 or more, --head-learning-rate positive")
    if config.head_epochs and config.head_epochs >= config.epochs:
        raise KagglekitError(f"--head-epochs {config.head_epochs} leaves no epoch for fine-tuning the backbone "
                             f"(--epochs {config.epochs}); raise --epochs or lower --head-epochs")
    if config.sample is not None and config.sample < 2 * config.folds:
        raise KagglekitError(f"--sample {config.sample} is too small for {config.folds} folds; use at least {2 * config.folds}")


def changed_settings(saved: TrainConfig, new: TrainConfig) -> list[tuple[str, object, object]]:
    """(name, saved value, new value) of every setting outside RESUMABLE that differs."""
    return [(name, getattr(saved, name), getattr(new, name)) for name in setting_names()
            if name not in RESUMABLE and getattr(saved, name) != getattr(new, name)]


def config_from_json(data: dict) -> TrainConfig:
    """Rebuild a TrainConfig saved in a run folder, ignoring keys newer versions added."""
    valid = set(setting_names())
    return TrainConfig(**{k: v for k, v in data.items() if k in valid})


def config_to_json(config: TrainConfig) -> dict:
    """The settings as a JSON-ready dict (what config.json and result.json hold)."""
    return dataclasses.asdict(config)


def default_data_dir(slug: str) -> Path:
    """Where `kagglekit fetch` puts a competition's files."""
    return Path("data") / slug
