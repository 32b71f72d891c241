"""Submission files: build them in the competition's exact layout, check them, write them atomically.

The sample submission, when the competition has one, fixes the columns, the
row order and the spelling of every id; kagglekit copies ids from it verbatim
so that "007" stays "007". Values are checked before anything touches disk,
and the file appears only once it is complete (written beside, then renamed).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from kagglekit.competition.definition import Competition
from kagglekit.core.atomic import atomic_open
from kagglekit.core.errors import KagglekitError
from kagglekit.core.files import read_csv_text
from kagglekit.data.catalog import Catalog, read_sample


def expected_columns(comp: Competition, sample: pd.DataFrame | None) -> list[str]:
    """The header a submission must have."""
    if sample is not None:
        return list(sample.columns)
    sub = comp.submission
    if sub.columns:
        return list(sub.columns)
    if sub.kind == "class_columns":
        return [sub.id_column, *comp.labels.classes]
    return [sub.id_column, sub.label_column]


def _value_columns(comp: Competition, columns: list[str]) -> list[str]:
    return [c for c in columns if c != comp.submission.id_column]


def build_submission(
    comp: Competition, ids: list[str], proba: np.ndarray, sample: pd.DataFrame | None
) -> pd.DataFrame:
    """Lay out class probabilities (n, n_classes) for test ids as the competition expects.

    The result holds text cells, in the sample's row order when there is one.
    """
    sub = comp.submission
    proba = np.asarray(proba, dtype=np.float64)
    if sub.clip is not None:
        proba = np.clip(proba, *sub.clip)
    by_id = {str(i): row for i, row in zip(ids, proba)}
    order = list(sample[sub.id_column]) if sample is not None else sorted(by_id, key=_natural_key)
    missing = [i for i in order if i not in by_id]
    if missing:
        raise KagglekitError(
            f"{len(missing)} test ids of the sample submission have no prediction (first: {missing[0]}); "
            "check the test files in the data folder"
        )
    rows = np.stack([by_id[i] for i in order]) if order else np.zeros((0, comp.n_classes))
    columns = expected_columns(comp, sample)
    out = pd.DataFrame({sub.id_column: order})
    fmt = sub.float_format
    if sub.kind == "class_columns":
        for name in _value_columns(comp, columns):
            if name not in comp.labels.classes:
                raise KagglekitError(f"submission column '{name}' is not a class of {comp.slug}; fix labels.classes")
            out[name] = [fmt % v for v in rows[:, comp.labels.classes.index(name)]]
    elif sub.kind == "probability":
        out[sub.label_column] = [fmt % v for v in rows[:, comp.positive_index]]
    else:
        best = rows.argmax(axis=1) if len(rows) else np.zeros(0, dtype=int)
        if sub.label_format == "index":
            out[sub.label_column] = [str(int(b)) for b in best]
        else:
            out[sub.label_column] = [comp.labels.classes[b] for b in best]
    return out[columns]


def _natural_key(text: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def check_submission(comp: Competition, df: pd.DataFrame, sample: pd.DataFrame | None) -> None:
    """Raise KagglekitError naming the first problem that Kaggle would reject the file for."""
    sub = comp.submission
    columns = expected_columns(comp, sample)
    if list(df.columns) != columns:
        raise KagglekitError(f"header is {','.join(map(str, df.columns))} but {comp.slug} expects {','.join(columns)}")
    ids = df[sub.id_column]
    dup = ids[ids.duplicated()]
    if len(dup):
        raise KagglekitError(f"id {dup.iloc[0]} appears {int((ids == dup.iloc[0]).sum())} times; each id must appear once")
    if sample is not None:
        want, got = set(sample[sub.id_column]), set(ids)
        if want - got:
            first = sorted(want - got, key=_natural_key)[0]
            raise KagglekitError(f"{len(want - got)} ids of the sample submission are missing (first: {first})")
        if got - want:
            first = sorted(got - want, key=_natural_key)[0]
            raise KagglekitError(f"{len(got - want)} ids are not in the sample submission (first: {first})")
    for col in columns:
        blank = df[col].isna() | (df[col].astype(str).str.strip().isin(["", "nan", "NaN", "None"]))
        if blank.any():
            raise KagglekitError(f"column '{col}' has a missing value on row {int(blank.idxmax()) + 2}; every cell needs a value")
    values = _value_columns(comp, columns)
    if sub.kind == "label":
        allowed = (
            [str(i) for i in range(comp.n_classes)] if sub.label_format == "index" else list(comp.labels.classes)
        )
        bad = ~df[sub.label_column].isin(allowed)
        if bad.any():
            row = int(bad.idxmax())
            raise KagglekitError(
                f"label '{df[sub.label_column][row]}' on row {row + 2} is not one of {', '.join(allowed)}"
            )
        return
    for col in values:
        nums = pd.to_numeric(df[col], errors="coerce")
        bad = nums.isna() | (nums < 0) | (nums > 1)
        if bad.any():
            row = int(bad.idxmax())
            raise KagglekitError(f"value '{df[col][row]}' in column '{col}' on row {row + 2} is not a probability in [0, 1]")


def write_submission(df: pd.DataFrame, path: Path) -> Path:
    """Write DF to PATH atomically: a crash leaves the old file or none, never half a file."""
    with atomic_open(path, "w", newline="") as fh:
        df.to_csv(fh, index=False)
    return Path(path)


def validate_file(comp: Competition, path: Path, data_dir: Path) -> pd.DataFrame:
    """Check a submission file on disk against the competition; return it when valid."""
    df = read_csv_text(Path(path), "submission")
    check_submission(comp, df, read_sample(comp, data_dir))
    return df


def submission_probabilities(comp: Competition, df: pd.DataFrame) -> np.ndarray:
    """Turn a (valid) submission back into class probabilities (n, n_classes)."""
    sub, n = comp.submission, comp.n_classes
    if sub.kind == "class_columns":
        proba = np.stack([pd.to_numeric(df[c]).to_numpy() for c in comp.labels.classes], axis=1)
        sums = proba.sum(axis=1, keepdims=True)
        return np.divide(proba, sums, out=np.full_like(proba, 1.0 / n), where=sums > 0)
    if sub.kind == "probability":
        p = pd.to_numeric(df[sub.label_column]).to_numpy()
        proba = np.zeros((len(df), 2))
        proba[:, comp.positive_index] = p
        proba[:, 1 - comp.positive_index] = 1 - p
        return proba
    return np.eye(n)[solution_labels(comp, df)]


def solution_labels(comp: Competition, df: pd.DataFrame) -> np.ndarray:
    """True class indices from a solution file (a label column, or one-hot class columns)."""
    sub = comp.submission
    if sub.label_column in df.columns:
        values = df[sub.label_column].astype(str)
        if set(values) <= set(comp.labels.classes):
            return values.map(comp.labels.classes.index).to_numpy()
        return pd.to_numeric(values).round().astype(int).to_numpy()
    return np.stack([pd.to_numeric(df[c]).to_numpy() for c in comp.labels.classes], axis=1).argmax(axis=1)


def score_submission(comp: Competition, submission: pd.DataFrame, solution: pd.DataFrame) -> float:
    """Score a valid submission against the sealed solution with the competition's metric, as Kaggle does."""
    from kagglekit.competition.metrics import score

    sub_id = comp.submission.id_column
    solution = solution.set_index(solution[sub_id].astype(str))
    submission = submission.set_index(submission[sub_id].astype(str)).loc[solution.index]
    return score(comp.metric, solution_labels(comp, solution.reset_index(drop=True)),
                 submission_probabilities(comp, submission.reset_index(drop=True)))


def build_run_submission(run_dir: Path, catalog: Catalog, data_dir: Path, tta: int | None = None,
                         time_left: float | None = None) -> tuple[pd.DataFrame, dict]:
    """Predict with a run's folds (predict.predict_test: TTA views, or at most TTA fitting TIME_LEFT seconds) and
    lay the result out, checked against the sample submission found now; returns it with what was used."""
    from kagglekit.prediction.predict import predict_test

    comp = catalog.competition
    ids, proba, folds, plan = predict_test(run_dir, catalog, tta, time_left=time_left)
    sample = read_sample(comp, data_dir)
    df = build_submission(comp, ids, proba, sample)
    check_submission(comp, df, sample)
    return df, {"folds": folds, "plan": plan, "prior_rows": int((~catalog.test["readable"]).sum())}


def write_run_submission(run_dir: Path, catalog: Catalog, data_dir: Path, out: Path | None,
                         tta: int | None = None, time_left: float | None = None) -> dict:
    """build_run_submission, written atomically to OUT (default: the run's submission.csv); returns a summary."""
    from kagglekit.runs.folder import RunFolder

    df, used = build_run_submission(run_dir, catalog, data_dir, tta, time_left)
    path = write_submission(df, out or RunFolder(run_dir).submission)
    return {"path": str(path), "rows": len(df), **used}


def predict_run(run_dir: Path | None = None, competition: str | Competition | None = None, data_dir: Path | None = None,
                tta: int | None = None, out: Path | None = None, write: bool = True) -> dict:
    """What `kagglekit predict` does: the run (default: the competition's latest), its competition and data
    (default: those its record names), its submission built and, with WRITE, written to OUT. The summary
    holds the table itself under "submission"."""
    from kagglekit.competition.definition import load_competition
    from kagglekit.data.catalog import build_catalog, resolve_data_dir
    from kagglekit.runs.folder import RunFolder, latest_run_dir

    if tta is not None and tta < 1:
        raise KagglekitError("--tta must be at least 1 (1 = no test-time augmentation)")
    record = RunFolder(run_dir).read_record(required=False) if run_dir is not None else None
    comp = competition if isinstance(competition, Competition) else \
        load_competition(competition or (record and (record.competition_file or record.competition)))
    run = RunFolder(run_dir or latest_run_dir(comp.slug))
    run.read_config()  # a clear error for a folder that is not a run
    recorded_data = run.read_record(required=False).data_dir
    data = resolve_data_dir(comp, data_dir or (Path(recorded_data) if recorded_data else None))
    catalog = build_catalog(comp, data)
    df, used = build_run_submission(run.path, catalog, data, tta)
    summary = {"rows": len(df), "submission": df, **used}
    if write:
        summary["path"] = str(write_submission(df, out or run.submission))
    return summary
