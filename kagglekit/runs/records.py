"""The run folder's records as types: config.json, run.json, a fold's result.json and the OOF tables.

Each record is a dataclass with `load` and `save`. Loading checks the file
field by field against the types declared here (core/fields.py), as a
competition file is checked, so that a damaged or hand-edited record stops
with one line naming the file, the field, what was expected and what to do,
instead of a traceback from deep inside Keras or pandas. Saving is atomic.
runs/folder.py names the files; this module owns what is in them.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from kagglekit.core.atomic import write_json, write_text
from kagglekit.core.config import TrainConfig, config_to_json
from kagglekit.core.errors import KagglekitError
from kagglekit.core.fields import checked_value, field_types, type_name

RUN_FIX = "fix it or delete the run and train again"  # what to do about a damaged config.json or run.json
RUN_OOF_FIX = "delete it: 'kagglekit train' with the run's settings rebuilds it from the finished folds"


def fold_fix(fold_dir: Path, k: int) -> str:
    """What to do about a damaged file of fold K."""
    return f"fix it or delete {fold_dir} and train the fold again ('kagglekit train' with the run's settings and --fold {k})"


def read_object(path: Path, fix: str) -> dict:
    """The JSON object in PATH, or one line saying the file is damaged and FIX."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KagglekitError(f"{path} is damaged ({str(exc).splitlines()[0][:100]}); {fix}") from None
    if not isinstance(data, dict):
        raise KagglekitError(f"{path} is damaged (not a JSON object); {fix}")
    return data


def checked_fields(cls, data: dict, path: Path, fix: str) -> dict:
    """The values of DATA that are fields of CLS, each checked against the field's type; the rest left out."""
    types = field_types(cls)
    out = {}
    for name, value in data.items():
        if name not in types:
            continue
        ok, value = checked_value(value, types[name])
        if not ok:
            raise KagglekitError(f"{path}: {name} must be {type_name(types[name])}, got {value!r}; {fix}")
        out[name] = value
    required = [f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    missing = [name for name in required if name not in out]
    if missing:
        raise KagglekitError(f"{path}: {missing[0]} is missing; {fix}")
    return out


def _without_none(record) -> dict:
    return {k: v for k, v in dataclasses.asdict(record).items() if v is not None}


# -- config.json -----------------------------------------------------------------

def load_config(path: Path) -> TrainConfig:
    """The settings saved in config.json, every one checked (keys of newer versions are ignored)."""
    return TrainConfig(**checked_fields(TrainConfig, read_object(path, RUN_FIX), path, RUN_FIX))


def save_config(path: Path, config: TrainConfig) -> None:
    """Save a run's settings as config.json, atomically."""
    write_json(path, config_to_json(config))


# -- run.json ------------------------------------------------------------------------

@dataclass(frozen=True)
class RunRecord:
    """run.json: where a run's data came from, what computed it, and where it was trained."""

    competition: str | None = None  # the competition's slug
    competition_file: str | None = None  # its definition (a TOML file)
    data_dir: str | None = None
    versions: dict = field(default_factory=dict)  # library -> version
    n_train: int | None = None
    skipped_train: list = field(default_factory=list)  # training files that could not be read
    started: str | None = None
    last_started: str | None = None
    precision: dict | None = None  # devices.Precision.to_json(), once chosen for the run
    kernel: str | None = None  # owner/slug of the Kaggle kernel that trained it (`kernel output`)
    kernel_version: int | None = None
    accelerator: str | None = None
    kernel_data_dir: str | None = None  # data_dir as the kernel saw it
    merged_from: dict | None = None  # `kagglekit ensemble`: fold -> the run it came from
    extra: dict = field(default_factory=dict)  # keys a newer version wrote, kept as they are

    @classmethod
    def load(cls, path: Path) -> "RunRecord":
        """Read and check run.json."""
        data = read_object(path, RUN_FIX)
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        found = checked_fields(cls, {k: v for k, v in data.items() if k in names}, path, RUN_FIX)
        return cls(**found, extra={k: v for k, v in data.items() if k not in names})

    def save(self, path: Path) -> None:
        """Write run.json atomically."""
        data = _without_none(self)
        write_json(path, {**data.pop("extra"), **data})

    def replace(self, **changes) -> "RunRecord":
        """A copy with CHANGES."""
        return dataclasses.replace(self, **changes)


# -- fold_K/result.json ----------------------------------------------------------------

@dataclass(frozen=True)
class FoldResult:
    """A fold's result.json: written last, it marks the fold as done."""

    fold: int
    score: float  # the competition's metric on the fold's validation images
    accuracy: float | None = None
    metric: str = "score"
    best_epoch: int | None = None  # 1-based; None when no epoch had a finite validation loss
    epochs_run: int | None = None
    n_train: int | None = None
    n_val: int | None = None
    seconds: float = 0.0
    settings: dict = field(default_factory=dict)  # the settings as the user gave them (config_to_json)

    @classmethod
    def load(cls, path: Path, k: int) -> "FoldResult":
        """Read and check fold K's result.json."""
        fix = fold_fix(Path(path).parent, k)
        result = cls(**checked_fields(cls, read_object(path, fix), path, fix))
        if result.fold != k:
            raise KagglekitError(f"{path}: fold is {result.fold}, but the file is fold {k}'s; {fix}")
        return result

    def save(self, path: Path) -> None:
        """Write result.json atomically."""
        write_json(path, dataclasses.asdict(self))


# -- oof.csv -----------------------------------------------------------------------------

PROBABILITY_PREFIX = "p_"  # the OOF table's column of class C is p_C


@dataclass(frozen=True)
class OofTable:
    """Out-of-fold predictions: id, fold, label (the class index) and one p_<class> column per class."""

    frame: pd.DataFrame

    @property
    def classes(self) -> list[str]:
        """The classes, in the order of their probability columns."""
        return [c[len(PROBABILITY_PREFIX):] for c in self.frame.columns if c.startswith(PROBABILITY_PREFIX)]

    @property
    def labels(self) -> np.ndarray:
        return self.frame["label"].to_numpy(dtype="int64")

    def __len__(self) -> int:
        return len(self.frame)

    def proba(self, classes: list[str] | None = None) -> np.ndarray:
        """The probabilities (n, classes) of CLASSES (default: the table's own), in that order."""
        wanted = self.classes if classes is None else [str(c) for c in classes]
        missing = [c for c in wanted if PROBABILITY_PREFIX + c not in self.frame]
        if missing:
            raise KagglekitError(f"the OOF table has no column {PROBABILITY_PREFIX}{missing[0]} (it has "
                                 f"{', '.join(self.classes)}); were its folds trained for this competition?")
        return self.frame[[PROBABILITY_PREFIX + c for c in wanted]].to_numpy(dtype="float64")

    @classmethod
    def from_predictions(cls, ids, fold: int, labels, proba: np.ndarray, classes: list[str]) -> "OofTable":
        """The table of one fold's predictions PROBA (n, classes) of images IDS with true LABELS."""
        frame = pd.DataFrame({"id": np.asarray(ids), "fold": fold, "label": np.asarray(labels)})
        for i, name in enumerate(classes):
            frame[f"{PROBABILITY_PREFIX}{name}"] = proba[:, i]
        return cls(frame)

    @classmethod
    def concat(cls, tables: list["OofTable"]) -> "OofTable":
        """Several folds' tables as one, in fold and id order."""
        frame = pd.concat([t.frame for t in tables], ignore_index=True)
        return cls(frame.sort_values(["fold", "id"]).reset_index(drop=True))

    @classmethod
    def load(cls, path: Path, fix: str) -> "OofTable":
        """Read and check an OOF table; FIX says what to do when it is damaged."""
        try:
            frame = pd.read_csv(path, dtype={"id": str})
        except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise KagglekitError(f"{path} is damaged ({str(exc).strip().splitlines()[0][:100]}); {fix}") from None
        missing = [c for c in ("id", "fold", "label") if c not in frame]
        if missing or not cls(frame).classes:
            what = f"column {missing[0]}" if missing else f"{PROBABILITY_PREFIX}<class> column"
            raise KagglekitError(f"{path}: no {what}; {fix}")
        for column in ["fold", "label", *(PROBABILITY_PREFIX + c for c in cls(frame).classes)]:
            need_int = column in ("fold", "label")
            values = frame[column]
            ok = pd.api.types.is_integer_dtype(values) if need_int else \
                pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
            if not ok or values.isna().any():
                bad = next((v for v in values if not _is_number(v, need_int)), None)
                raise KagglekitError(f"{path}: column {column} must hold "
                                     f"{'whole numbers' if need_int else 'numbers'}, got {bad!r}; {fix}")
        return cls(frame)

    def save(self, path: Path) -> None:
        """Write the table atomically."""
        write_text(path, self.frame.to_csv(index=False))


def _is_number(value, whole: bool) -> bool:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return not np.isnan(number) and (number.is_integer() or not whole)
