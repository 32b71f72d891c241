"""`kagglekit fetch --file` (one file of a competition) and `submit`'s look at the day's allowance, through the real
kaggle client against the sandbox."""

from __future__ import annotations


DEMO = "demo-digits"


def test_fetch_one_file_then_it_is_up_to_date(cli, workdir, sandbox):
    code, out, err = cli("fetch", "-c", DEMO, "--file", "sample_submission.csv", "-q")
    assert code == 0, err
    data = workdir / "data" / DEMO
    served = sandbox.bundles[DEMO].folder / "sample_submission.csv"
    assert "fetched sample_submission.csv" in out
    assert (data / "sample_submission.csv").read_bytes() == served.read_bytes()
    assert [p.name for p in data.iterdir() if not p.name.startswith(".")] == ["sample_submission.csv"]
    assert not [p for p in data.rglob("*") if p.is_file() and p.name != "sample_submission.csv"]  # nothing staged left
    assert sandbox.stats["DownloadDataFile"] == 1 and sandbox.stats["DownloadDataFiles"] == 0

    code, out, err = cli("fetch", "-c", DEMO, "--file", "sample_submission.csv", "-q")
    assert code == 0, err
    assert "sample_submission.csv is up to date" in out and sandbox.stats["DownloadDataFile"] == 1
    code, out, err = cli("fetch", "-c", DEMO, "--file", "sample_submission.csv", "--force", "-q")
    assert code == 0 and "fetched sample_submission.csv" in out and sandbox.stats["DownloadDataFile"] == 2


def test_fetch_the_csvs_first_then_the_whole_competition(cli, workdir, sandbox):
    code, out, err = cli("fetch", "-c", DEMO, "--file", "*.csv", "-q")
    assert code == 0, err
    data = workdir / "data" / DEMO
    assert sorted(p.name for p in data.glob("*.csv")) == ["sample_submission.csv", "train_labels.csv"]
    assert not (data / "train").exists()  # no image came with them
    code, out, err = cli("fetch", "-c", DEMO, "-q")
    assert code == 0, err
    assert "fetched demo-digits" in out and len(list((data / "train").glob("*.png"))) == 1797 - 300


def test_a_large_file_served_zipped_arrives_unzipped(cli, workdir, sandbox, tmp_path):
    from kagglekit.kaggle.remote import connect

    sandbox.zip_files_over = 1000  # as Kaggle does with a large file: train_labels.csv comes as train_labels.csv.zip
    stock = tmp_path / "stock"
    connect().competition_download_file(DEMO, "train_labels.csv", path=str(stock), quiet=True)
    assert [p.name for p in stock.iterdir()] == ["train_labels.csv.zip"]  # what the stock client is given
    code, out, err = cli("fetch", "-c", DEMO, "--file", "train_labels.csv", "-q")
    assert code == 0, err
    data = workdir / "data" / DEMO
    assert (data / "train_labels.csv").read_bytes() == (sandbox.bundles[DEMO].folder / "train_labels.csv").read_bytes()
    assert not list(data.rglob("*.zip"))


def test_fetch_a_file_the_competition_does_not_have(cli, workdir, sandbox):
    code, out, err = cli("fetch", "-c", DEMO, "--file", "test.csv")
    assert code == 1
    assert "demo-digits has no file matching 'test.csv'" in err and "sample_submission.csv" in err
    assert not (workdir / "data" / DEMO).exists()


def test_stock_client_downloads_one_file_from_the_sandbox(sandbox, run_kaggle, tmp_path):
    done = run_kaggle("competitions", "download", "-c", DEMO, "-f", "train_labels.csv", "-p", str(tmp_path / "stock"))
    assert done.returncode == 0, done.stderr + done.stdout
    assert (tmp_path / "stock" / "train_labels.csv").read_bytes() == \
        (sandbox.bundles[DEMO].folder / "train_labels.csv").read_bytes()


# -- submissions left ------------------------------------------------------------

def test_submit_says_what_is_left_and_refuses_when_nothing_is(cli, workdir, sandbox):
    code, out, err = cli("fetch", "-c", DEMO, "-q")
    assert code == 0, err
    sample = workdir / "data" / DEMO / "sample_submission.csv"
    sandbox.configure(DEMO, daily_limit=2)
    code, out, err = cli("submit", sample, "-c", DEMO, "-m", "first", "-q")
    assert code == 0, err
    assert "1 submission left today" in out
    code, out, err = cli("submit", sample, "-c", DEMO, "-m", "second", "--wait", "-q")
    assert code == 0, err
    assert "public score:" in out and "0 submissions left today" in out

    code, out, err = cli("submit", sample, "-c", DEMO, "-m", "third", "-q")
    assert code == 1
    assert "no submissions left today for demo-digits" in err and "nothing was sent" in err
    assert sandbox.stats["StartSubmissionUpload"] == 2 and sandbox.stats["CreateSubmission"] == 2

    sandbox.configure(DEMO, daily_limit=3)  # the allowance grows (a new day): submitting works again
    code, out, err = cli("submit", sample, "-c", DEMO, "-m", "third", "-q")
    assert code == 0 and "0 submissions left today" in out


def test_the_stock_client_reads_the_same_allowance(cli, workdir, sandbox):
    from kagglekit.kaggle.remote import connect

    sandbox.configure(DEMO, daily_limit=4)
    limits = connect().competition_get_submission_limits(DEMO)
    assert (limits.num_today, limits.num_allowed_now) == (0, 4)
