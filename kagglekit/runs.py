"""The runs on disk: their settings, OOF scores, time taken, and what was submitted.

Every run folder (see crossval.py) is found by its config.json under
``runs/<slug>/``. Submissions made from a run are recorded in the run's
``submissions.json``, a list that ``record_submission`` appends to (or
updates, once Kaggle has scored a submission), so that ``kagglekit runs``
can say which runs were submitted and how they scored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from kagglekit.runfiles import read_json, write_json

SUBMISSIONS_FILE = "submissions.json"


@dataclass(frozen=True)
class RunSummary:
    """One row of the runs table."""

    run_dir: Path
    competition: str
    model: str
    image_size: int
    augment: str
    folds: int
    epochs: int
    sample: int | None
    seed: int
    folds_done: int
    metric: str | None
    oof_score: float | None
    oof_accuracy: float | None
    seconds: float | None  # training time summed over the finished folds
    started: str | None
    submissions: int
    public_score: float | None  # the latest scored submission's public score

    @property
    def complete(self) -> bool:
        """True when every fold of the run has finished."""
        return self.folds_done >= self.folds


def read_submissions(run_dir: Path) -> list[dict]:
    """The submissions recorded for RUN_DIR, oldest first."""
    data = read_json(Path(run_dir) / SUBMISSIONS_FILE, [])
    return data if isinstance(data, list) else []


def record_submission(
    run_dir: Path,
    file: Path,
    message: str = "",
    ref: str | None = None,
    status: str | None = None,
    public_score: float | None = None,
    private_score: float | None = None,
) -> dict:
    """Record a submission of FILE made from RUN_DIR; with the REF of one already recorded, update it.

    Call it once when the file is uploaded and again when Kaggle has scored it.
    """
    run_dir = Path(run_dir)
    entries = read_submissions(run_dir)
    entry = next((e for e in entries if ref is not None and e.get("ref") == ref), None)
    if entry is None:
        entry = {"ref": ref, "file": str(file), "message": message, "submitted": time.strftime("%Y-%m-%d %H:%M:%S")}
        entries.append(entry)
    for key, value in (("status", status), ("public_score", public_score), ("private_score", private_score)):
        if value is not None:
            entry[key] = value
    write_json(run_dir / SUBMISSIONS_FILE, entries)
    return entry


def run_dir_of(file: Path) -> Path | None:
    """The run folder a submission file was written into (predict's default), if it was."""
    folder = Path(file).resolve().parent
    return folder if (folder / "config.json").is_file() and (folder / "run.json").is_file() else None


def summarize_run(run_dir: Path) -> RunSummary:
    """Read one run folder's settings, scores, times and submissions."""
    run_dir = Path(run_dir)
    config = read_json(run_dir / "config.json", {})
    info = read_json(run_dir / "run.json", {})
    scores = read_json(run_dir / "scores.json", {})
    results = [read_json(p, {}) for p in sorted(run_dir.glob("fold_*/result.json"))]
    submissions = read_submissions(run_dir)
    scored = [s["public_score"] for s in submissions if s.get("public_score") is not None]
    seconds = sum(r.get("seconds", 0.0) for r in results) if results else None
    return RunSummary(
        run_dir=run_dir,
        competition=info.get("competition", run_dir.parent.name),
        model=config.get("model", "?"),
        image_size=config.get("image_size", 0),
        augment=config.get("augment", "?"),
        folds=config.get("folds", 0),
        epochs=config.get("epochs", 0),
        sample=config.get("sample"),
        seed=config.get("seed", 0),
        folds_done=len(results),
        metric=scores.get("metric"),
        oof_score=scores.get("oof_score"),
        oof_accuracy=scores.get("oof_accuracy"),
        seconds=seconds,
        started=info.get("started"),
        submissions=len(submissions),
        public_score=scored[-1] if scored else None,
    )


def find_runs(slug: str | None = None, root: Path = Path("runs")) -> list[RunSummary]:
    """Every run folder under ROOT (only competition SLUG's when given), oldest first."""
    pattern = f"{slug}/*/config.json" if slug else "*/*/config.json"
    folders = [p.parent for p in Path(root).glob(pattern)]
    runs = [summarize_run(p) for p in folders]
    return sorted(runs, key=lambda r: (r.started or "", str(r.run_dir)))
