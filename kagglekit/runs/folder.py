"""The run folder: the on-disk contract that ties the stages together.

`kagglekit train` writes it; predict, ensemble, report, runs, submit, kernel
output and a kernel's resume read it. This module is the only one that knows
its file names and the rules for reading, resuming and copying it:

  config.json       the settings the folds were trained with (core.config.TrainConfig)
  run.json          the run record (records.RunRecord): competition, data folder, versions, times
  folds.csv         the fold of every training id (StratifiedKFold)
  fold_K/
    best.keras      the best model by validation loss (written beside, then renamed)
    head.weights.h5 fine-tuning only: the weights after the head-only stage
    history.csv     loss and metrics per epoch (CSVLogger, appended across restarts)
    backup/         BackupAndRestore's state while the fold trains
    oof.csv         the fold's out-of-fold predictions
    result.json     written last, it marks the fold as done; holds the fold's score
                    and the settings it was trained with
  oof.csv           the out-of-fold predictions of every finished fold
  scores.json       OOF score per fold and overall
  submission.csv    written by `kagglekit predict`
  submissions.json  what was submitted from this run, and how it scored
  report/           `kagglekit report`'s figures and page

What config.json, run.json, result.json and the OOF tables hold, and the
checks when they are read, are runs/records.py's typed records.
Nothing here imports TensorFlow except load_fold_model, so `runs` and
`report` read run folders without loading Keras.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from kagglekit.core.atomic import atomic_folder, write_json, write_text
from kagglekit.core.config import TrainConfig, changed_settings
from kagglekit.core.errors import KagglekitError
from kagglekit.runs.records import (RUN_OOF_FIX, FoldResult, OofTable, RunRecord, fold_fix, load_config,
                                    save_config)

RUNS_ROOT = Path("runs")


@dataclass(frozen=True)
class FoldFiles:
    """The files of one fold of a run."""

    path: Path
    number: int

    @property
    def model(self) -> Path:
        return self.path / "best.keras"

    @property
    def partial_model(self) -> Path:
        """Where the checkpoint callback writes before the rename into `model`."""
        return self.path / "best.partial.keras"

    @property
    def history(self) -> Path:
        return self.path / "history.csv"

    @property
    def head_weights(self) -> Path:
        """Fine-tuning: the weights after the head-only stage (finetune.py); their presence marks stage 1 done."""
        return self.path / "head.weights.h5"

    @property
    def backup(self) -> Path:
        return self.path / "backup"

    @property
    def oof(self) -> Path:
        return self.path / "oof.csv"

    @property
    def result(self) -> Path:
        return self.path / "result.json"

    @property
    def done(self) -> bool:
        """True once the fold's result is written (last, atomically)."""
        return self.result.is_file()

    @property
    def lock(self) -> Path:
        """Held while the fold trains (core/locks.py), beside the fold's folder so that it never travels with it."""
        return self.path.parent / f".{self.path.name}.lock"


@dataclass(frozen=True)
class RunFolder:
    """A run folder and the name of everything in it."""

    path: Path

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))

    config = property(lambda self: self.path / "config.json")
    record = property(lambda self: self.path / "run.json")
    folds_table = property(lambda self: self.path / "folds.csv")
    oof = property(lambda self: self.path / "oof.csv")
    scores = property(lambda self: self.path / "scores.json")
    submission = property(lambda self: self.path / "submission.csv")
    submissions = property(lambda self: self.path / "submissions.json")
    report = property(lambda self: self.path / "report")

    def fold(self, k: int) -> FoldFiles:
        """The files of fold K."""
        return FoldFiles(self.path / f"fold_{k}", k)

    def folds(self) -> list[FoldFiles]:
        """Every fold folder present, in fold order."""
        found = [p for p in self.path.glob("fold_*") if p.is_dir() and p.name[5:].isdigit()]
        return sorted((FoldFiles(p, int(p.name[5:])) for p in found), key=lambda f: f.number)

    def finished_folds(self) -> list[int]:
        """The folds whose training finished."""
        return [f.number for f in self.folds() if f.done]

    def is_run(self) -> bool:
        """True when the folder holds a run's settings."""
        return self.config.is_file()

    # -- reading (the records and their checks are runs/records.py's) -----------------
    def read_config(self) -> TrainConfig:
        """The settings the run was trained with; a one-line error when missing or damaged."""
        if not self.config.is_file():
            raise KagglekitError(f"{self.path} is not a kagglekit run folder (no config.json); "
                                 "pass the folder 'train' wrote")
        return load_config(self.config)

    def read_record(self, required: bool = True) -> RunRecord:
        """The run record (run.json); an empty one when missing and not REQUIRED."""
        if not self.record.is_file():
            if required:
                raise KagglekitError(f"{self.path} has no run.json; pass the folder 'train' wrote")
            return RunRecord()
        return RunRecord.load(self.record)

    def read_folds(self) -> pd.DataFrame:
        """The fold assignment (id, fold)."""
        try:
            return pd.read_csv(self.folds_table, dtype={"id": str})
        except FileNotFoundError:
            raise KagglekitError(f"{self.path} has no folds.csv; pass the folder 'train' wrote") from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise KagglekitError(f"{self.folds_table} is damaged ({str(exc).splitlines()[0]}); "
                                 "retrain into a new --run-dir") from None

    def results(self) -> list[FoldResult]:
        """The result of every finished fold, in fold order; one line for a damaged one."""
        return [FoldResult.load(f.result, f.number) for f in self.folds() if f.done]

    def read_scores(self) -> dict:
        """scores.json, or {} before the first fold finished."""
        data = read_json(self.scores, {})
        return data if isinstance(data, dict) else {}

    def read_oof(self) -> OofTable | None:
        """The OOF table, or None before the first fold finished."""
        return OofTable.load(self.oof, RUN_OOF_FIX) if self.oof.is_file() else None

    # -- writing -------------------------------------------------------------
    def prepare(self, config: TrainConfig, folds: pd.DataFrame, record: RunRecord) -> None:
        """Create the folder, or reopen it after checking it was trained with CONFIG and FOLDS.

        A refused resume changes nothing in the folder.
        """
        if self.config.is_file():
            check_resume(self, config)
        if self.folds_table.is_file() and not self.read_folds().equals(folds):
            raise KagglekitError(f"the training images changed since {self.path} was started "
                                 "(fold assignment differs); pass a new --run-dir")
        self.path.mkdir(parents=True, exist_ok=True)
        # The run's settings, whichever fold this command trains (`train --fold K` shares the folder).
        save_config(self.config, dataclasses.replace(config, fold=None))
        if not self.folds_table.is_file():  # whole or not at all: half an assignment would refuse every resume
            write_text(self.folds_table, folds.to_csv(index=False))
        earlier = self.read_record(required=False)  # what later steps added (e.g. the precision) is kept
        now = time.strftime("%Y-%m-%d %H:%M:%S")
        given = {k: v for k, v in dataclasses.asdict(record).items() if v is not None and k != "extra"}
        earlier.replace(**given, started=earlier.started or now, last_started=now).save(self.record)

    def read_precision(self) -> dict | None:
        """The precision the run's folds train with, once chosen (see devices.Precision)."""
        return self.read_record(required=False).precision

    def record_precision(self, precision: dict) -> None:
        """Keep the run's precision in its record, so that every fold and every resume uses it."""
        self.read_record(required=False).replace(precision=precision).save(self.record)

    def write_fold_outputs(self, k: int, oof: OofTable, result: FoldResult) -> None:
        """A fold's OOF predictions, then its result (last: it marks the fold as done)."""
        fold = self.fold(k)
        oof.save(fold.oof)
        result.save(fold.result)
        shutil.rmtree(fold.backup, ignore_errors=True)

    def write_oof(self, oof: OofTable, scores: dict) -> None:
        """The run's OOF table and scores."""
        oof.save(self.oof)
        write_json(self.scores, scores)

    def fold_oof_tables(self) -> list[OofTable]:
        """The OOF predictions of every finished fold."""
        return [OofTable.load(f.oof, fold_fix(f.path, f.number)) for f in self.folds() if f.done and f.oof.is_file()]


def read_json(path: Path, default=None):
    """The JSON in PATH, or DEFAULT when it is missing or unreadable (for listings that must not stop)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return default


def read_history(fold: FoldFiles) -> pd.DataFrame:
    """A fold's per-epoch history (one row per epoch, the latest row kept after a restart)."""
    path = fold.history
    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame()
    history = pd.read_csv(path)
    return history.drop_duplicates("epoch", keep="last").reset_index(drop=True) if "epoch" in history else history


def check_resume(run: RunFolder, config: TrainConfig) -> None:
    """Refuse to train CONFIG into RUN when it changes a setting that shaped the folds' weights."""
    changes = changed_settings(run.read_config(), config)
    if changes:
        said = ", ".join(f"{name} {old!r} (now {new!r})" for name, old, new in changes)
        raise KagglekitError(f"run folder {run.path} was trained with {said}; pass --run-dir with a new folder "
                             f"for the new setting{'s' if len(changes) > 1 else ''}, or the old "
                             f"value{'s' if len(changes) > 1 else ''} to resume it")


# -- finding runs --------------------------------------------------------------

def default_run_dir(slug: str, config: TrainConfig) -> Path:
    """The run folder named after the main settings, so that the same command resumes the same run."""
    name = f"{config.model}-{config.image_size}px-{config.augment}-{config.folds}f-s{config.seed}"
    if config.sample:
        name += f"-n{config.sample}"
    return named_run_dir(slug, name)


def named_run_dir(slug: str, name: str) -> Path:
    """The run folder NAME of competition SLUG under the runs root (e.g. a kernel's output brought home)."""
    return RUNS_ROOT / slug / name


def latest_run_dir(slug: str, root: Path = RUNS_ROOT) -> Path:
    """The run of competition SLUG whose latest fold finished last."""
    runs = {}
    for folder in find_run_dirs(root, slug):
        done = [RunFolder(folder).fold(k).result for k in RunFolder(folder).finished_folds()]
        if done:
            runs[folder] = max(p.stat().st_mtime for p in done)
    if not runs:
        raise KagglekitError(f"no finished run of {slug} under {root}/{slug}; run 'kagglekit train' or pass --run-dir")
    return max(runs, key=runs.get)


def find_run_dirs(root: Path = RUNS_ROOT, slug: str | None = None) -> list[Path]:
    """Every run folder under ROOT (only competition SLUG's when given)."""
    pattern = f"{slug}/*/config.json" if slug else "*/*/config.json"
    # Hidden folders are atomic_folder's work in progress (or what a killed one left), never runs.
    return sorted(p.parent for p in Path(root).glob(pattern) if not p.parent.name.startswith("."))


def latest_submission_file(slug: str, root: Path = RUNS_ROOT) -> Path | None:
    """The newest submission.csv that `kagglekit predict` wrote into a run of SLUG."""
    # a run, or a folder holding only a submission; hidden ones are atomic_folder's work in progress
    folders = [p for p in Path(root, slug).glob("*") if p.is_dir() and not p.name.startswith(".")]
    found = [RunFolder(p).submission for p in folders if RunFolder(p).submission.is_file()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def run_dir_of(file: Path) -> Path | None:
    """The run folder a submission file was written into (predict's default), if it was."""
    run = RunFolder(Path(file).resolve().parent)
    return run.path if run.config.is_file() and run.record.is_file() else None


# -- models --------------------------------------------------------------------

def load_fold_model(run: RunFolder, k: int):
    """The best checkpoint of fold K, with a clear error when it is missing or damaged."""
    import keras

    path = run.fold(k).model
    try:
        return keras.models.load_model(path, compile=False)
    except (OSError, ValueError) as exc:
        raise KagglekitError(
            f"model {path} cannot be loaded ({str(exc).splitlines()[0][:120]}); retrain the fold with 'kagglekit train'"
        ) from None


# -- copying folds between runs (kernel resume, ensembles) ------------------------

def copy_run_files(source: RunFolder, target: RunFolder) -> None:
    """Copy SOURCE's settings and fold assignment into TARGET where TARGET has none yet."""
    target.path.mkdir(parents=True, exist_ok=True)
    for src, dst in ((source.config, target.config), (source.folds_table, target.folds_table)):
        if src.is_file() and not dst.exists():
            write_text(dst, src.read_text())


def copy_fold(source: FoldFiles, target: RunFolder, with_checkpoint: bool = True) -> str | None:
    """Copy one fold into TARGET unless TARGET has it already; what was taken, or None.

    A finished fold is taken whole; an unfinished one (WITH_CHECKPOINT) only when
    TARGET has nothing of it, so that training resumes from its checkpoint. The copy
    appears only when complete, so a cut copy never looks like a fold.
    """
    dest = target.fold(source.number)
    if dest.done or (dest.path.exists() and not source.done) or not (source.done or with_checkpoint):
        return None
    skip = shutil.ignore_patterns("*.partial*") if source.done else shutil.ignore_patterns("*.partial*.keras")
    with atomic_folder(dest.path) as partial:
        shutil.copytree(source.path, partial, dirs_exist_ok=True, ignore=skip)
        if source.done:
            shutil.rmtree(partial / source.backup.name, ignore_errors=True)
    return dest.path.name if source.done else f"{dest.path.name} (checkpoint)"


def export_run(run: RunFolder, target: Path) -> list[str]:
    """Copy into TARGET what a run is worth publishing (e.g. as a dataset for an inference kernel): its settings,
    fold assignment, scores and finished folds, without backups, partial checkpoints, unfinished folds,
    reports or hidden files (the folds' locks). Returns the files copied, relative to TARGET."""
    finished = {run.fold(k).path.name for k in run.finished_folds()}
    if not finished:
        raise KagglekitError(f"{run.path} has no finished fold to publish; train it first")
    folds = {f.path.name for f in run.folds()}

    def left_out(folder: str, names: list[str]) -> set[str]:
        top = Path(folder) == run.path
        return {n for n in names if ".partial" in n or n.startswith(".")
                or (top and (n == run.report.name or (n in folds and n not in finished)))
                or (not top and n == FoldFiles(Path(folder), 0).backup.name)}

    shutil.copytree(run.path, target, ignore=left_out, dirs_exist_ok=True)
    return sorted(p.relative_to(target).as_posix() for p in Path(target).rglob("*") if p.is_file())


def localize(run: RunFolder, competition_file: Path, slug: str, data_dir: Path, kernel: str | None = None,
             kernel_version: int | None = None, accelerator: str | None = None) -> None:
    """Point a downloaded run's record at the local definition and data instead of /kaggle/input, and note where
    it came from: KERNEL (owner/slug), its KERNEL_VERSION and ACCELERATOR (machine shape), when known."""
    came_from = {"kernel": kernel, "kernel_version": kernel_version, "accelerator": accelerator}
    earlier = run.read_record(required=False)
    earlier.replace(**{k: v for k, v in came_from.items() if v is not None}, kernel_data_dir=earlier.data_dir,
                    competition=slug, competition_file=str(Path(competition_file).resolve()),
                    data_dir=str(Path(data_dir).resolve())).save(run.record)


def keep_local_records(old: RunFolder, new: RunFolder) -> None:
    """Carry what was recorded locally about OLD (its submissions) into NEW, a fresh copy of the same run."""
    if old.submissions.is_file() and not new.submissions.exists():
        write_text(new.submissions, old.submissions.read_text())


# -- submissions made from a run -------------------------------------------------

def read_submissions(run: RunFolder) -> list[dict]:
    """The submissions recorded for RUN, oldest first."""
    data = read_json(run.submissions, [])
    return data if isinstance(data, list) else []


def record_submission(run: RunFolder, file: Path, message: str = "", ref: str | None = None,
                      status: str | None = None, public_score: float | None = None,
                      private_score: float | None = None) -> dict:
    """Record a submission of FILE made from RUN; with the REF of one already recorded, update it."""
    entries = read_submissions(run)
    entry = next((e for e in entries if ref is not None and e.get("ref") == ref), None)
    if entry is None:
        entry = {"ref": ref, "file": str(file), "message": message, "submitted": time.strftime("%Y-%m-%d %H:%M:%S")}
        entries.append(entry)
    for key, value in (("status", status), ("public_score", public_score), ("private_score", private_score)):
        if value is not None:
            entry[key] = value
    write_json(run.submissions, entries)
    return entry
