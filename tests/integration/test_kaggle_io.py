"""`kagglekit fetch` and `kagglekit submit` through the real kaggle client, against the sandbox."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from kernel_fixtures import sklearn_log_loss


DEMO = "demo-digits"


def demo_data(workdir: Path) -> Path:
    return workdir / "data" / DEMO


def fetch_demo(cli) -> None:
    code, out, err = cli("fetch", "-c", DEMO, "-q")
    assert code == 0, err


# -- fetch ---------------------------------------------------------------------

def test_fetch_downloads_unpacks_and_second_run_is_a_no_op(cli, workdir, sandbox):
    code, out, err = cli("fetch", "-c", DEMO, "-q")
    assert code == 0, err
    assert "fetched demo-digits" in out
    data = demo_data(workdir)
    assert (data / "sample_submission.csv").is_file() and (data / "train_labels.csv").is_file()
    assert len(list((data / "train").glob("*.png"))) == 1797 - 300
    assert not (data / "solution.csv").exists()  # sealed: never served
    assert not (data / ".download").exists()
    before = (data / "train_labels.csv").stat().st_mtime_ns

    code, out, err = cli("fetch", "-c", DEMO, "-q")
    assert code == 0, err
    assert "up to date" in out and "nothing downloaded" in out
    assert (data / "train_labels.csv").stat().st_mtime_ns == before

    code, out, err = cli("fetch", "-c", DEMO, "-q", "--force")
    assert code == 0, err
    assert "fetched demo-digits" in out
    assert (data / "train_labels.csv").stat().st_mtime_ns != before


def test_fetch_dogs_vs_cats_unpacks_the_zips_in_the_zip(cli, workdir, make_sandbox, dogs_dir):
    from kagglekit.competition.definition import load_competition
    from kagglekit.data.catalog import build_train_table

    make_sandbox(dogs_dir)
    code, out, err = cli("fetch", "-c", "dogs-vs-cats", "-q")
    assert code == 0, err
    assert "unpacked train.zip, test1.zip" in out
    data = workdir / "data" / "dogs-vs-cats"
    assert sorted(p.name for p in data.iterdir() if not p.name.startswith(".")) == [
        "sampleSubmission.csv", "test1", "test1.zip", "train", "train.zip"]
    assert len(list((data / "test1").rglob("*.jpg"))) == 1000
    table = build_train_table(load_competition("dogs-vs-cats"), data)
    assert len(table) == 4000 and set(table["label"]) == {0, 1}


def test_interrupted_download_is_kept_apart_and_resumed(cli, workdir, sandbox):
    sandbox.faults.set(drop=100, drop_after=100_000)
    code, out, err = cli("fetch", "-c", DEMO, "-q")
    assert code == 1
    assert "cut off 3 times" in err and "run the same command again to resume" in err
    data = demo_data(workdir)
    # Nothing a later step could take for a complete download:
    assert not (data / "sample_submission.csv").exists() and not (data / ".kagglekit-fetch.json").exists()
    partial = data / ".download" / f"{DEMO}.zip"
    partial_size = partial.stat().st_size
    assert 0 < partial_size < zipfile_size(sandbox)

    sandbox.faults.clear()
    code, out, err = cli("fetch", "-c", DEMO, "-q")
    assert code == 0, err
    assert "resumed after" in out
    assert max(sandbox.range_starts) >= partial_size  # the client asked only for the missing bytes
    assert len(list((data / "train").glob("*.png"))) == 1797 - 300
    assert not (data / ".download").exists()


def zipfile_size(sandbox) -> int:
    from kagglekit.sandbox.bundles import bundle_zip

    return bundle_zip(sandbox.bundles[DEMO], sandbox.cache_dir).stat().st_size


def test_fetch_refuses_an_archive_entry_that_escapes(cli, workdir, make_sandbox, tmp_path):
    folder = tmp_path / "evil-zip"
    folder.mkdir()
    with zipfile.ZipFile(folder / "train.zip", "w") as zf:
        zf.writestr("train/cat.0.jpg", b"not really a jpeg")
        zf.writestr("../escape.txt", b"outside")
    (folder / "sample.csv").write_text("id,label\n1,0\n")
    (folder / "competition.toml").write_text(
        'slug = "evil-zip"\nmetric = "accuracy"\n'
        '[files]\ntrain = "train.zip"\ntest = "train.zip"\nsample_submission = "sample.csv"\nunpack = ["train.zip"]\n'
        '[labels]\npattern = \'^(?P<label>cat|dog)\\.\'\nclasses = ["cat", "dog"]\n'
    )
    make_sandbox(folder)
    code, out, err = cli("fetch", "-c", str(folder / "competition.toml"), "-q")
    assert code == 1
    assert "../escape.txt" in err and "refusing to extract" in err
    assert not list(workdir.rglob("escape.txt"))


# -- errors ----------------------------------------------------------------------

def test_no_credentials_says_where_to_put_them(cli, workdir, sandbox, monkeypatch):
    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")
    code, out, err = cli("fetch", "-c", DEMO)
    assert code == 1
    assert "no Kaggle credentials found" in err and "kaggle.json" in err and "KAGGLE_KEY" in err
    assert out == ""  # the client's page of auth help is not shown


def test_wrong_key_is_a_401_with_what_to_do(cli, workdir, sandbox, monkeypatch):
    monkeypatch.setenv("KAGGLE_KEY", "wrong-key-123")
    code, out, err = cli("fetch", "-c", DEMO)
    assert code == 1
    assert "rejected your credentials (401)" in err and "kaggle.com/settings" in err
    assert "wrong-key-123" not in out + err


def test_rules_not_accepted_is_a_403_with_the_rules_url(cli, workdir, sandbox):
    from kagglekit.competition.definition import load_competition

    fetch_demo(cli)
    sandbox.configure(DEMO, rules_accepted=False)
    rules = load_competition(DEMO).rules_url
    for args in (["fetch", "--force"], ["submit", demo_data(workdir) / "sample_submission.csv", "-m", "x"]):
        code, out, err = cli(*args, "-c", DEMO, "-q")
        assert code == 1
        assert "(403" in err and rules in err and "cannot accept them" in err
    assert sandbox.stats["uploads"] == 0


def test_unknown_competition_is_a_404(cli, workdir, sandbox):
    code, out, err = cli("fetch", "-c", "dogs-vs-cats-redux-kernels-edition", "-q")
    assert code == 1
    assert "no competition 'dogs-vs-cats-redux-kernels-edition' (404" in err


def test_server_errors_are_retried_until_success(cli, workdir, sandbox):
    sandbox.faults.set(fail=2, status=503, only="DownloadDataFiles")
    code, out, err = cli("fetch", "-c", DEMO)
    assert code == 0, err
    assert err.count("trying again") == 2
    assert sandbox.stats["DownloadDataFiles"] == 3


def test_server_errors_until_giving_up(cli, workdir, sandbox):
    sandbox.faults.set(fail=100)
    code, out, err = cli("fetch", "-c", DEMO, "-q")
    assert code == 1
    assert "Kaggle kept failing to download the files for demo-digits (500" in err and "after 3 tries" in err
    assert not demo_data(workdir).joinpath("sample_submission.csv").exists()


def test_unreachable_server_after_retries(cli, workdir, sandbox):
    sandbox.stop()
    code, out, err = cli("fetch", "-c", DEMO, "-q")
    assert code == 1
    assert "could not reach Kaggle" in err and "after 3 tries" in err


# -- submit ----------------------------------------------------------------------

def demo_submission(sandbox, path: Path) -> Path:
    """A submission that is right with probability 0.6 on half the rows and uniform elsewhere."""
    solution = pd.read_csv(sandbox.bundles[DEMO].solution, dtype=str)
    proba = np.full((len(solution), 10), 0.1)
    for i, label in enumerate(solution["label"].astype(int)):
        if i % 2 == 0:
            proba[i] = 0.4 / 9
            proba[i, label] = 0.6
    df = pd.DataFrame({"id": solution["id"], **{str(c): [f"{p:.5f}" for p in proba[:, c]] for c in range(10)}})
    df.to_csv(path, index=False)
    return path


def test_submit_wait_prints_the_score_computed_from_the_solution(cli, workdir, sandbox):
    fetch_demo(cli)
    file = demo_submission(sandbox, workdir / "submission.csv")
    expected = sklearn_log_loss(file, sandbox.bundles[DEMO].solution)
    assert 1.2 < expected < 1.5  # half the rows at 0.6 on the right class (-ln 0.6), half uniform (ln 10)
    code, out, err = cli("submit", file, "-c", DEMO, "-m", "half right", "--wait", "-q")
    assert code == 0, err
    assert "(ref 1)" in out and f"public score: {expected:.5f}" in out
    assert sandbox.stats["GetSubmission"] >= 2  # it was pending at first and polled
    key = sandbox.store.credentials()[1]
    assert key not in out + err
    written = [p for p in workdir.rglob("*") if p.is_file() and not p.relative_to(workdir).parts[0].startswith("sandbox-")]
    assert written and not [p for p in written if key.encode() in p.read_bytes()]


def test_submit_without_wait_reports_the_ref(cli, workdir, sandbox):
    fetch_demo(cli)
    code, out, err = cli("submit", demo_data(workdir) / "sample_submission.csv", "-c", DEMO, "-m", "uniform")
    assert code == 0, err
    assert "(ref 1)" in out and "public score" not in out


def test_invalid_submission_is_never_sent(cli, workdir, sandbox):
    fetch_demo(cli)
    bad = workdir / "bad.csv"
    bad.write_text("id,label\n1,3\n")
    code, out, err = cli("submit", bad, "-c", DEMO, "-m", "bad")
    assert code == 1
    assert "header is id,label" in err
    assert sandbox.stats["StartSubmissionUpload"] == 0 and sandbox.stats["uploads"] == 0


def test_daily_limit_is_an_error_before_anything_is_sent(cli, workdir, sandbox):
    fetch_demo(cli)
    sandbox.configure(DEMO, daily_limit=1)
    file = demo_data(workdir) / "sample_submission.csv"
    assert cli("submit", file, "-c", DEMO, "-m", "first")[0] == 0
    code, out, err = cli("submit", file, "-c", DEMO, "-m", "second")
    assert code == 1
    assert "no submissions left today for demo-digits" in err and "ubmitted" not in out
    assert sandbox.stats["StartSubmissionUpload"] == 1


def test_closed_competition_is_an_error(cli, workdir, sandbox):
    fetch_demo(cli)
    sandbox.configure(DEMO, closed=True)
    code, out, err = cli("submit", demo_data(workdir) / "sample_submission.csv", "-c", DEMO, "-m", "late")
    assert code == 1
    assert "has closed" in err


def test_a_submission_that_fails_to_score_reports_the_servers_message(cli, workdir, sandbox):
    fetch_demo(cli)
    # A local sample that disagrees with Kaggle's passes local checks but not the server's.
    sample = demo_data(workdir) / "sample_submission.csv"
    lines = sample.read_text().splitlines(keepends=True)
    sample.write_text("".join(lines[:-1]))
    code, out, err = cli("submit", sample, "-c", DEMO, "-m", "short", "--wait")
    assert code == 1
    assert "failed to score" in err and "ids of the sample submission are missing" in err


def test_upload_failures_are_retried(cli, workdir, sandbox):
    fetch_demo(cli)
    sandbox.faults.set(fail=1, only="CreateSubmission")
    code, out, err = cli("submit", demo_data(workdir) / "sample_submission.csv", "-c", DEMO, "-m", "x", "--wait")
    assert code == 0, err
    assert "public score: 2.30259" in out  # uniform over ten classes: log loss ln(10)
    assert len(sandbox.store.submissions(DEMO)) == 1


def test_a_lost_answer_is_not_submitted_twice(cli, workdir, sandbox):
    fetch_demo(cli)
    sandbox.configure(DEMO, daily_limit=1)  # a second copy would be refused: the retry must find the first
    sandbox.faults.set(lose=1, only="CreateSubmission")
    code, out, err = cli("submit", demo_data(workdir) / "sample_submission.csv", "-c", DEMO, "-m", "once", "--wait")
    assert code == 0, err
    assert "(ref 1)" in out and "public score: 2.30259" in out
    assert "not sending it again" in err
    assert [s["description"] for s in sandbox.store.submissions(DEMO)] == ["once"]
    assert sandbox.stats["CreateSubmission"] == 1


def test_submit_defaults_to_the_newest_run_submission(cli, workdir, sandbox):
    fetch_demo(cli)
    code, out, err = cli("submit", "-c", DEMO, "-m", "x")
    assert code == 1 and "none under runs/demo-digits/" in err
    run = workdir / "runs" / DEMO / "some-run"
    run.mkdir(parents=True)
    (run / "submission.csv").write_bytes((demo_data(workdir) / "sample_submission.csv").read_bytes())
    code, out, err = cli("submit", "-c", DEMO, "-m", "x")
    assert code == 0, err
    assert "some-run/submission.csv" in out


def test_submission_from_a_run_is_recorded_with_its_score(cli, workdir, sandbox):
    fetch_demo(cli)
    run = workdir / "runs" / DEMO / "recorded-run"
    run.mkdir(parents=True)
    (run / "config.json").write_text('{"model": "bn_cnn", "folds": 2}')
    (run / "run.json").write_text('{"competition": "demo-digits"}')
    (run / "submission.csv").write_bytes((demo_data(workdir) / "sample_submission.csv").read_bytes())
    code, out, err = cli("submit", "-c", DEMO, "-m", "recorded", "--wait")
    assert code == 0, err
    code, out, err = cli("runs", "-c", DEMO)
    assert code == 0, err
    line = next(row for row in out.splitlines() if "recorded-run" in row)
    assert "2.30259" in line or "2.3026" in line  # uniform 0.1 on ten classes: log loss ln(10)
