"""kagglekit in a notebook: the loop fetch -> train -> predict -> write_submission -> submit, as functions.

    import kagglekit as kk

    comp = kk.load_competition("dogs-vs-cats")
    kk.fetch(comp)
    run = kk.train(comp, folds=5, budget="45m")     # any training setting by name, as in a [train] table
    submission = kk.predict(run.run_dir)             # a DataFrame in the competition's exact layout
    kk.write_submission(submission, run.run_dir / "submission.csv", comp)
    kk.submit(run.run_dir / "submission.csv", "first try", comp, wait=True)

Each function is what the command of the same name does, without the printing: it returns values and
raises kagglekit.KagglekitError (one line saying what to do) for anything the user can fix. Progress
goes to the "kagglekit" logger. TensorFlow is imported only by the functions that train or predict.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    import pandas as pd

    from kagglekit.competition.definition import Competition
    from kagglekit.kaggle.fetch import FetchResult
    from kagglekit.kaggle.submit import SubmitResult


def _competition(competition) -> "Competition":
    from kagglekit.competition.definition import Competition, load_competition

    return competition if isinstance(competition, Competition) else load_competition(competition)


def load_competition(name: str | Path | None = None) -> "Competition":
    """The competition definition NAME (a slug, or a path to its .toml; default: the one `kagglekit use` set)."""
    return _competition(name)


def fetch(competition=None, data_dir: Path | None = None, force: bool = False) -> "FetchResult":
    """Download COMPETITION's files into DATA_DIR (default data/<slug>) and unpack them; a no-op when up to date."""
    from kagglekit.core.config import default_data_dir
    from kagglekit.kaggle.fetch import fetch_competition

    comp = _competition(competition)
    return fetch_competition(comp, data_dir or default_data_dir(comp.slug), force=force)


@dataclass(frozen=True)
class Trained:
    """What `train` returns: the run folder (pass it to predict) and its out-of-fold scores."""

    run_dir: Path
    scores: dict


def train(competition=None, data_dir: Path | None = None, run_dir: Path | None = None,
          callbacks: Sequence = (), **settings) -> Trained:
    """Train COMPETITION's stratified k-fold ensemble; calling it again with the same settings resumes the run.

    SETTINGS are training settings by name (folds=5, epochs=30, image_size=96, model="res_cnn", budget="45m",
    ...; `kagglekit train --help` lists them all), applied over the competition's [train] table. CALLBACKS
    are Keras callbacks of your own, given to every fold's fit after kagglekit's (checkpoints, schedules).
    """
    from kagglekit.training.run import train_run

    out, scores = train_run(_competition(competition), settings, data_dir, run_dir, callbacks=tuple(callbacks))
    return Trained(Path(out), scores)


def predict(run_dir: Path | None = None, competition=None, data_dir: Path | None = None,
            tta: int | None = None) -> "pd.DataFrame":
    """The submission of RUN_DIR's folds on the test images (TTA test-time views; default: the run's), laid out
    and checked as the competition expects, not yet written. RUN_DIR defaults to the competition's latest run."""
    from kagglekit.prediction.submission import predict_run

    comp = None if competition is None else _competition(competition)
    return predict_run(run_dir, comp, data_dir, tta, write=False)["submission"]


def write_submission(submission: "pd.DataFrame", path: Path, competition=None, data_dir: Path | None = None) -> Path:
    """Check SUBMISSION against the competition's sample submission, then write it to PATH atomically."""
    from kagglekit.data.catalog import read_sample, resolve_data_dir
    from kagglekit.prediction.submission import check_submission
    from kagglekit.prediction.submission import write_submission as write

    comp = _competition(competition)
    check_submission(comp, submission, read_sample(comp, resolve_data_dir(comp, data_dir)))
    return write(submission, Path(path))


def submit(file: Path, message: str, competition=None, data_dir: Path | None = None, wait: bool = False) -> "SubmitResult":
    """Validate FILE and send it to Kaggle (never twice, never an invalid file); with WAIT, until it is scored."""
    from kagglekit.core.config import default_data_dir
    from kagglekit.kaggle.submit import submit_file

    comp = _competition(competition)
    return submit_file(comp, Path(file), message, data_dir or default_data_dir(comp.slug), wait=wait)
