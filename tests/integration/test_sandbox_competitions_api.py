"""Competition listings and leaderboards of the sandbox, through the stock kaggle CLI; calls it does not serve;
the evaluation metric of a folder served without a definition (--metric)."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest_plugins = ["sandbox_fixtures"]

DEMO = "demo-digits"
CLASSES = [str(i) for i in range(10)]


def rows(result) -> list[dict]:
    """The CSV table a `kaggle ... --csv` command printed (after any 'Next Page Token' line)."""
    assert result.returncode == 0, result.stdout + result.stderr
    text = result.stdout[result.stdout.index("\n") + 1:] if result.stdout.startswith("Next Page") else result.stdout
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def galaxy(tmp_path, sandbox_cache) -> Path:
    """A second competition (the demo's files) whose definition gives Kaggle's category, deadline and prize."""
    from kagglekit.competition import demo

    folder = demo.write_demo_competition(tmp_path / "galaxy-shapes")
    text = Path(demo.__file__).with_name("builtin").joinpath("demo-digits.toml").read_text()
    text = text.replace('slug = "demo-digits"', 'slug = "galaxy-shapes"').replace(
        'title = "kagglekit demo: handwritten digits"', 'title = "Galaxy shapes"').replace(
        'category = "Getting Started"', 'category = "Featured"\ndeadline = 2030-06-30').replace(
        'reward = "Knowledge"', 'reward = "$25,000"')
    (folder / "competition.toml").write_text(text)
    return folder


def test_competitions_list_shows_each_definitions_record_and_filters_and_sorts(make_sandbox, galaxy, run_kaggle):
    make_sandbox(galaxy)
    listed = {r["ref"].rsplit("/", 1)[-1]: r for r in rows(run_kaggle("competitions", "list", "--csv"))}
    assert set(listed) == {"galaxy-shapes", DEMO, "demo-digits-code"}
    assert (listed["galaxy-shapes"]["category"], listed["galaxy-shapes"]["reward"]) == ("Featured", "$25,000")
    assert listed["galaxy-shapes"]["deadline"] == "2030-06-30 23:59:00"
    assert listed[DEMO]["category"] == "Getting Started" and listed[DEMO]["reward"] == "Knowledge"

    def slugs(*args):
        return [r["ref"].rsplit("/", 1)[-1] for r in rows(run_kaggle("competitions", "list", "--csv", *args))]

    assert slugs("--category", "featured") == ["galaxy-shapes"]
    assert slugs("--category", "gettingStarted") == [DEMO, "demo-digits-code"]
    assert slugs("--search", "galaxy") == ["galaxy-shapes"]
    assert slugs("--sort-by", "prize")[0] == "galaxy-shapes"
    assert slugs("--sort-by", "earliestDeadline")[0] == "galaxy-shapes"  # the only one with a deadline
    assert slugs("--sort-by", "latestDeadline")[-1] == "galaxy-shapes"
    assert slugs("--group", "general", "--category", "featured") == ["galaxy-shapes"]
    done = run_kaggle("competitions", "list", "--group", "community")
    assert done.returncode == 0 and "No competitions found" in done.stdout


def _submission(tmp_path: Path, sandbox, name: str, confidence: float) -> tuple[Path, float]:
    """A demo-digits submission giving CONFIDENCE to the true class, and its log loss by scikit-learn itself."""
    from sklearn.metrics import log_loss

    solution = pd.read_csv(sandbox.bundles[DEMO].solution, dtype=str)
    truth = solution["label"].astype(int).to_numpy()
    proba = np.full((len(truth), 10), (1 - confidence) / 9)
    proba[np.arange(len(truth)), truth] = confidence
    frame = pd.DataFrame(proba, columns=CLASSES)
    frame.insert(0, "id", solution["id"])
    path = tmp_path / f"{name}.csv"
    frame.to_csv(path, index=False, float_format="%.6f")
    return path, float(log_loss(truth, proba, labels=list(range(10))))


def test_leaderboard_ranks_each_teams_best_score_and_downloads_as_a_zip(make_sandbox, run_kaggle, tmp_path,
                                                                         monkeypatch):
    sandbox = make_sandbox(scoring_delay=0)
    rival_key = sandbox.add_user("rival", team="Rival Team")
    good, good_loss = _submission(tmp_path, sandbox, "good", 0.9)
    fair, fair_loss = _submission(tmp_path, sandbox, "fair", 0.6)
    poor, poor_loss = _submission(tmp_path, sandbox, "poor", 0.3)
    for path in (poor, good):
        assert run_kaggle("competitions", "submit", "-c", DEMO, "-f", str(path), "-m", path.stem).returncode == 0
    monkeypatch.setenv("KAGGLE_USERNAME", "rival")
    monkeypatch.setenv("KAGGLE_KEY", rival_key)
    assert run_kaggle("competitions", "submit", "-c", DEMO, "-f", str(fair), "-m", "fair").returncode == 0

    board = rows(run_kaggle("competitions", "leaderboard", "-c", DEMO, "--show", "--csv"))
    assert [r["teamName"] for r in board] == ["kaggler", "Rival Team"]  # log loss: lower is better
    assert [float(r["score"]) for r in board] == pytest.approx([good_loss, fair_loss], abs=1e-4)  # kaggler's best
    listed = {r["ref"].rsplit("/", 1)[-1]: r for r in rows(run_kaggle("competitions", "list", "--csv"))}
    assert listed[DEMO]["teamCount"] == "2" and listed[DEMO]["userRank"] == "2"  # rival asks: second

    done = run_kaggle("competitions", "leaderboard", "-c", DEMO, "--download", "-p", str(tmp_path / "lb"))
    assert done.returncode == 0, done.stdout + done.stderr
    with zipfile.ZipFile(tmp_path / "lb" / f"{DEMO}.zip") as zf:
        table = pd.read_csv(io.BytesIO(zf.read(f"{DEMO}-publicleaderboard.csv")))
    assert list(table.columns) == ["TeamId", "TeamName", "SubmissionDate", "Score"]
    assert list(table["TeamName"]) == ["kaggler", "Rival Team"]
    assert table["Score"].tolist() == pytest.approx([good_loss, fair_loss], abs=1e-4)
    assert poor_loss > fair_loss  # kaggler's poorer submission is not their row


def test_a_call_the_sandbox_does_not_serve_names_the_sandbox_not_an_outage(sandbox, run_kaggle):
    done = run_kaggle("competitions", "topics", "list", DEMO)
    assert done.returncode == 1
    assert "not served by kagglekit sandbox: ListCompetitionTopics" in done.stderr
    assert "Kaggle's side" not in done.stdout + done.stderr


@pytest.fixture
def project(workdir) -> Path:
    """A working folder whose competitions/ is its own (definitions written here stay out of the repo)."""
    (workdir / "competitions").unlink()
    (workdir / "competitions").mkdir()
    return workdir


@pytest.fixture
def bare_digits(tmp_path) -> Path:
    """The demo's files in a folder whose name kagglekit knows no definition for: the sandbox infers one."""
    from kagglekit.competition import demo

    return demo.write_demo_competition(tmp_path / "served" / "bare-digits")


def test_an_inferred_metric_is_never_listed_as_kaggles_record(make_sandbox, bare_digits, cli, project):
    from kagglekit.kaggle.new_competition import competition_record

    make_sandbox(bare_digits)
    assert competition_record("bare-digits")["evaluation_metric"] == ""  # log loss was only guessed
    code, out, err = cli("fetch", "-c", "bare-digits", "-q")
    assert code == 0, err
    toml = (project / "competitions" / "bare-digits" / "competition.toml").read_text()
    [line] = [l for l in toml.splitlines() if l.startswith("metric")]
    assert 'metric = "log_loss"' in line and "a guess from the submission kind" in line
    assert "Kaggle's record names no evaluation metric" in line
    warnings = [l for l in err.splitlines() if "metric" in l and "check" in l]
    assert len(warnings) == 1 and "chosen from the submission kind" in warnings[0]


def test_sandbox_metric_flag_serves_kaggles_words_and_scores_with_it(make_sandbox, bare_digits, cli, project):
    from kagglekit.kaggle.new_competition import competition_record

    sandbox = make_sandbox(bare_digits, metric="Multiclass Accuracy")
    assert sandbox.bundles["bare-digits"].comp.metric == "accuracy"
    assert competition_record("bare-digits")["evaluation_metric"] == "Multiclass Accuracy"
    code, out, err = cli("fetch", "-c", "bare-digits", "-q")
    assert code == 0, err
    toml = (project / "competitions" / "bare-digits" / "competition.toml").read_text()
    assert "metric = \"accuracy\"" in toml and "Kaggle's record: 'Multiclass Accuracy'" in toml
    assert "guess" not in [l for l in toml.splitlines() if l.startswith("metric")][0]


def test_sandbox_metric_flag_refuses_what_it_cannot_score_with(make_sandbox, bare_digits, tmp_path, cli):
    from kagglekit.core.errors import KagglekitError

    with pytest.raises(KagglekitError, match="not a metric the sandbox can score with"):
        make_sandbox(bare_digits, metric="Mean F1-Score")
    code, _, err = cli("sandbox", "--data", str(bare_digits), "--metric", "Mean F1-Score", "--state",
                       str(tmp_path / "st"), "--port", "0")
    assert code == 1 and "not a metric the sandbox can score with" in err
