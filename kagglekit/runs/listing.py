"""The runs on disk: their settings, OOF scores, time taken, and what was submitted.

Run folders are found and read through kagglekit.runs.folder; this module
only summarizes them for `kagglekit runs`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kagglekit.core.errors import KagglekitError
from kagglekit.runs.folder import RUNS_ROOT, RunFolder, find_run_dirs, read_submissions
from kagglekit.runs.records import RunRecord


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
    kernel: str | None = None  # owner/slug of the Kaggle kernel that trained the run (`kernel output`)
    kernel_version: int | None = None
    accelerator: str | None = None  # the machine shape the kernel was pushed with, e.g. NvidiaTeslaT4
    merged_runs: int = 0  # `kagglekit ensemble` merged the folds of this many runs into this one
    problems: tuple[str, ...] = ()  # what is wrong with the run's damaged records, one line each

    @property
    def origin(self) -> str:
        """Where the run was trained: "local", the kernel with its version and accelerator, or an ensemble."""
        if self.merged_runs:
            return f"ensemble of {self.merged_runs} runs"
        if not self.kernel:
            return "local"
        version = f" v{self.kernel_version}" if self.kernel_version else ""
        return f"{self.kernel}{version} {self.accelerator or 'accelerator unknown'}"

    @property
    def complete(self) -> bool:
        """True when every fold of the run has finished."""
        return self.folds_done >= self.folds


def summarize_run(run_dir: Path) -> RunSummary:
    """Read one run folder's settings, scores, times and submissions."""
    run = RunFolder(run_dir)
    config, problems = _readable(run.read_config, None)
    info, damaged = _readable(lambda: run.read_record(required=False), RunRecord())
    results, damaged_results = _readable(run.results, [])
    problems += damaged + damaged_results
    scores = run.read_scores()
    submissions = read_submissions(run)
    scored = [s["public_score"] for s in submissions if s.get("public_score") is not None]
    seconds = sum(r.seconds for r in results) if results else None
    return RunSummary(
        run_dir=run.path,
        competition=info.competition or run.path.parent.name,
        model=config.model if config else "?",
        image_size=config.image_size if config else 0,
        augment=config.augment if config else "?",
        folds=config.folds if config else 0,
        epochs=config.epochs if config else 0,
        sample=config.sample if config else None,
        seed=config.seed if config else 0,
        folds_done=len(run.finished_folds()),
        metric=scores.get("metric"),
        oof_score=scores.get("oof_score"),
        oof_accuracy=scores.get("oof_accuracy"),
        seconds=seconds,
        started=info.started,
        submissions=len(submissions),
        public_score=scored[-1] if scored else None,
        kernel=info.kernel,
        kernel_version=info.kernel_version,
        accelerator=info.accelerator,
        merged_runs=len(set((info.merged_from or {}).values())),
        problems=tuple(problems),
    )


def _readable(read, default) -> tuple:
    """(what READ returns, []) or, when a record is damaged, (DEFAULT, [its one-line error]): the listing carries on."""
    try:
        return read(), []
    except KagglekitError as exc:
        return default, [str(exc)]


def find_runs(slug: str | None = None, root: Path = RUNS_ROOT) -> list[RunSummary]:
    """Every run folder under ROOT (only competition SLUG's when given), oldest first."""
    runs = [summarize_run(p) for p in find_run_dirs(root, slug)]
    return sorted(runs, key=lambda r: (r.started or "", str(r.run_dir)))
