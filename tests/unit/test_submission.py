"""Submission files: laid out as the sample says, checked, written atomically; validate through the CLI."""

import numpy as np
import pandas as pd
import pytest

from kagglekit.competition.definition import load_competition
from kagglekit.competition.demo import write_demo_competition
from kagglekit.core.errors import KagglekitError
from kagglekit.prediction.submission import build_submission, check_submission, score_submission, write_submission


def test_dogs_labels_and_redux_probabilities(workdir, dogs_dir):
    sample = pd.read_csv(dogs_dir / "sampleSubmission.csv", dtype=str)
    ids = list(reversed(sample["id"]))
    p_dog = np.linspace(0, 1, len(ids))
    proba = np.stack([1 - p_dog, p_dog], axis=1)
    dogs = build_submission(load_competition("dogs-vs-cats"), ids, proba, sample)
    assert list(dogs.columns) == ["id", "label"] and list(dogs["id"]) == list(sample["id"])
    assert set(dogs["label"]) == {"0", "1"}
    redux = build_submission(load_competition("dogs-vs-cats-redux-kernels-edition"), ids, proba, sample)
    values = redux["label"].astype(float)
    assert values.min() == 0.005 and values.max() == 0.995  # clipped for log loss
    solution = pd.read_csv(dogs_dir / "solution.csv", dtype=str)
    perfect = solution.copy()
    assert score_submission(load_competition("dogs-vs-cats"), perfect, solution) == 1.0


def test_class_columns_keep_id_spelling(workdir):
    data = write_demo_competition(workdir / "digits")
    comp = load_competition("demo-digits")
    sample = pd.read_csv(data / "sample_submission.csv", dtype=str)
    proba = np.full((len(sample), 10), 0.1)
    df = build_submission(comp, list(sample["id"]), proba, sample)
    assert df["id"].iloc[0].startswith("00")  # "00042" is not turned into 42
    check_submission(comp, df, sample)


@pytest.fixture
def demo_files(workdir):
    data = write_demo_competition(workdir / "data" / "demo-digits")
    sample = pd.read_csv(data / "sample_submission.csv", dtype=str)
    return data, sample


def _write(df, path):
    df.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    "spoil, message",
    [
        (lambda df: df.rename(columns={"3": "three"}), "header is id,0,1,2,three"),
        (lambda df: pd.concat([df, df.iloc[[4]]]), "appears 2 times"),
        (lambda df: df.iloc[1:], "1 ids of the sample submission are missing"),
        (lambda df: df.assign(**{"5": ["0.1"] * (len(df) - 1) + [""]}), "missing value"),
        (lambda df: df.assign(**{"5": ["1.5"] * len(df)}), "not a probability in [0, 1]"),
        (lambda df: df.assign(id=["x"] + list(df["id"][1:])), "missing"),
    ],
)
def test_validate_rejects_bad_files_with_one_line(demo_files, cli, workdir, spoil, message):
    _, sample = demo_files
    path = _write(spoil(sample.copy()), workdir / "sub.csv")
    code, out, err = cli("validate", path, "-c", "demo-digits")
    assert code == 1 and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_validate_accepts_the_sample_itself(demo_files, cli):
    data, _ = demo_files
    code, out, _ = cli("validate", data / "sample_submission.csv", "-c", "demo-digits")
    assert code == 0 and "valid submission" in out and "300 rows" in out


def test_validate_unreadable_file(demo_files, cli, workdir):
    (workdir / "empty.csv").write_text("")
    code, _, err = cli("validate", workdir / "empty.csv", "-c", "demo-digits")
    assert code == 1 and "not a readable CSV" in err
    code, _, err = cli("validate", workdir / "nope.csv", "-c", "demo-digits")
    assert code == 1 and "does not exist" in err
    (workdir / "a-folder").mkdir()
    code, _, err = cli("validate", workdir / "a-folder", "-c", "demo-digits")
    assert code == 1 and "is a folder, not a CSV file" in err and len(err.strip().splitlines()) == 1


def test_atomic_write_leaves_old_file_on_failure(workdir):
    path = workdir / "submission.csv"
    path.write_text("old\n")

    class Exploding(pd.DataFrame):
        def to_csv(self, *a, **k):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_submission(Exploding({"id": ["1"]}), path)
    assert path.read_text() == "old\n"
    assert [p.name for p in workdir.iterdir() if "submission" in p.name] == ["submission.csv"]


def test_missing_prediction_is_an_error(workdir):
    comp = load_competition("demo-digits")
    sample = pd.DataFrame({"id": ["1", "2"], **{str(d): ["0.1", "0.1"] for d in range(10)}})
    with pytest.raises(KagglekitError, match="no prediction"):
        build_submission(comp, ["1"], np.full((1, 10), 0.1), sample)
