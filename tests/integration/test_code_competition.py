"""Code competitions: no CSV uploads, kernel versions submitted and rerun on the hidden test set, Kaggle's four
rerun failures, --version from the last push, runs published as datasets, inference kernels that read the test
set at run time. The stock kaggle client talks to the sandbox throughout; the training is real and tiny."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import pytest
from kernel_fixtures import hidden, ids_of, one_error, sklearn_log_loss


CODE = "demo-digits-code"
TINY = ["--folds", "2", "--epochs", "1", "--image-size", "16", "--model", "bn_cnn_small", "--sample", "120",
        "--batch-size", "32"]


# -- planning the test-time views -------------------------------------------------------

def test_plan_views_fits_half_the_time_left_and_never_drops_below_one():
    from kagglekit.prediction.predict import plan_views

    # 100 s per pass, 5 folds, an hour left: 1,800 s for 18 more passes after the timed one -> 3 views (15 passes)
    assert plan_views(100, 5, 3600, 6) == 3
    assert plan_views(1, 5, 3600, 6) == 6  # plenty of time: the most views asked for
    assert plan_views(1, 5, 3600, 2) == 2
    assert plan_views(1000, 5, 3600, 6) == 1  # not even one view of every fold fits: one view, the least there is
    assert plan_views(0.0, 3, 10, 4) == 4  # no test images: nothing to save
    assert plan_views(10, 1, 100, 6, share=1.0) == 6 and plan_views(10, 1, 100, 6, share=0.2) == 3


def test_export_run_leaves_out_backups_partials_reports_locks_and_unfinished_folds(tmp_path):
    from kagglekit.runs.folder import RunFolder, export_run

    run = RunFolder(tmp_path / "run")
    for k, done in ((0, True), (1, False)):
        fold = run.fold(k)
        (fold.backup).mkdir(parents=True)
        (fold.backup / "state").write_text("x")
        fold.model.write_text("weights")
        fold.partial_model.write_text("half")
        if done:
            fold.result.write_text("{}")
        fold.lock.write_text("")  # what a fold's lock leaves once its holder is done: empty, hidden
    run.config.write_text("{}")
    run.report.mkdir()
    (run.report / "history.png").write_text("png")
    files = export_run(run, tmp_path / "out")
    assert files == ["config.json", "fold_0/best.keras", "fold_0/result.json"]


# -- what a code competition refuses --------------------------------------------------

def test_a_csv_upload_to_a_code_competition_is_refused(cli, code_env, sandbox, run_kaggle):
    code, out, err = cli("fetch", "-c", CODE, "--data-dir", code_env / "data", "-q")
    assert code == 0, err
    sample = code_env / "data" / "sample_submission.csv"
    done = run_kaggle("competitions", "submit", CODE, "-f", str(sample), "-m", "a file")
    assert "submissions must be made through Notebooks" in done.stdout + done.stderr

    uploads = sandbox.stats["StartSubmissionUpload"]
    code, out, err = cli("submit", sample, "-c", CODE, "--data-dir", code_env / "data", "-m", "a file")
    assert code == 1
    line = one_error(err)
    assert "demo-digits-code is a code competition" in line and "kagglekit submit -c demo-digits-code --kernel" in line
    code, out, err = cli("submit", "-c", CODE, "-m", "no file either")  # refused before looking for a file
    assert code == 1 and "is a code competition" in one_error(err)
    assert sandbox.stats["StartSubmissionUpload"] == uploads  # nothing was sent
    assert sandbox.store.submissions(CODE) == []


def test_submit_of_a_kernel_that_does_not_exist_names_the_kernel_not_the_competition(cli, code_env, sandbox):
    code, out, err = cli("submit", "-c", CODE, "--kernel", "kaggler/no-such-kernel", "--version", "1", "-m", "x", "-q")
    assert code == 1
    line = one_error(err)
    assert "no version 1 of the kernel kaggler/no-such-kernel" in line and "no competition" not in line
    assert sandbox.store.submissions(CODE) == []


@pytest.mark.parametrize("args, message", [
    (["--kernel", "nobody"], "must be OWNER/KERNEL"),
    (["--kernel", "kaggler/x", "--version", "0"], "versions count from 1"),
    (["--kernel", "kaggler/never-pushed"], "no push of kaggler/never-pushed is recorded"),
    (["--version", "3"], "--version and --file go with --kernel"),
    (["some.csv", "--kernel", "kaggler/x"], "give either FILE or --kernel"),
])
def test_submit_kernel_refuses_bad_input_in_one_line(cli, code_env, args, message):
    code, out, err = cli("submit", "-c", CODE, "-m", "msg", *args)
    assert code == 1 and message in one_error(err)


# -- the rerun, with quick script kernels ---------------------------------------------

HEAD = textwrap.dedent('''
    import os, shutil
    inp, out = os.environ["KAGGLEKIT_KAGGLE_INPUT"], os.environ["KAGGLEKIT_KAGGLE_WORKING"]
    rerun = os.environ.get("KAGGLE_IS_COMPETITION_RERUN") == "1"
    sample = os.path.join(inp, "demo-digits-code", "sample_submission.csv")
''')
SCRIPTS = {
    # Reads the sample submission it finds at run time, as a kernel must: scored on the rerun.
    "reads-at-run-time": "shutil.copyfile(sample, os.path.join(out, 'submission.csv'))\n",
    # Writes its file on the public run only.
    "Submission CSV Not Found": "if not rerun:\n    shutil.copyfile(sample, os.path.join(out, 'submission.csv'))\n",
    # Outlives the rerun's time limit (the sandbox's rerun_time_limit, 2 s here).
    "Notebook Timeout": "import time\nshutil.copyfile(sample, os.path.join(out, 'submission.csv'))\n"
                        "time.sleep(60 if rerun else 0)\n",
    # Tries the network on the rerun (the sandbox itself, on localhost): the rerun has none.
    "Notebook Threw Exception": "shutil.copyfile(sample, os.path.join(out, 'submission.csv'))\n"
                                "if rerun:\n    import urllib.request\n    urllib.request.urlopen('{status_url}')\n",
    # Carries the public test's ids from when it was written: wrong rows on the hidden test set.
    "Submission Scoring Error": "open(os.path.join(out, 'submission.csv'), 'w').write({cached!r})\n",
}


def push_script(folder: Path, slug: str, body: str, kernel_type: str = "script") -> str:
    """Push a script kernel (or a notebook of one cell) with the stock client's library and wait until its
    (public) run completed."""
    from kagglekit.kaggle.remote import connect
    from kagglekit.kernels.remote import wait_for

    folder.mkdir(parents=True, exist_ok=True)
    code_file = "run.py" if kernel_type == "script" else "run.ipynb"
    (folder / code_file).write_text(HEAD + body if kernel_type == "script" else json.dumps({
        "cells": [{"cell_type": "code", "source": HEAD + body, "metadata": {}, "outputs": [], "execution_count": None}],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4, "nbformat_minor": 5}))
    (folder / "kernel-metadata.json").write_text(json.dumps({
        "id": f"kaggler/{slug}", "title": slug, "code_file": code_file, "language": "python", "kernel_type": kernel_type,
        "is_private": True, "enable_gpu": False, "enable_tpu": False, "enable_internet": False,
        "competition_sources": [CODE], "dataset_sources": [], "kernel_sources": [], "model_sources": []}))
    answer = connect().kernels_push(str(folder))
    assert not answer.error, answer.error
    [status] = wait_for([f"kaggler/{slug}"], timeout=120)
    assert status.status == "COMPLETE", status.failure
    return f"kaggler/{slug}"


@pytest.mark.parametrize("failure", ["Submission CSV Not Found", "Notebook Timeout", "Notebook Threw Exception",
                                     "Submission Scoring Error"])
def test_each_rerun_failure_is_reported_in_kaggles_words(cli, code_env, sandbox, failure):
    public_sample = sandbox.bundles[CODE].folder / "sample_submission.csv"
    body = SCRIPTS[failure].format(status_url=f"http://127.0.0.1:{sandbox.port}/sandbox/status",
                                   cached=public_sample.read_text())
    kernel = push_script(code_env / "k", "rerun-fails", body)
    session = sandbox.sessions_dir / "kernels" / kernel / "1" / "working"
    assert (session / "submission.csv").is_file()  # the public run wrote its file: only the rerun fails
    sandbox.configure(CODE, rerun_time_limit=2)
    code, out, err = cli("submit", "-c", CODE, "--kernel", kernel, "--version", "1", "-m", failure, "--wait", "-q")
    assert code == 1
    line = one_error(err)
    assert f"failed to score: {failure} (" in line  # Kaggle's words, then what to do
    [sub] = sandbox.store.submissions(CODE)
    assert sub["status"] == "ERROR" and sub["error"] == failure and sub["kernel_version"] == 1


def test_a_kernel_that_reads_the_test_set_at_run_time_is_scored_on_the_hidden_set(cli, code_env, sandbox, run_kaggle):
    kernel = push_script(code_env / "k", "reads-at-run-time", SCRIPTS["reads-at-run-time"])
    done = run_kaggle("competitions", "submit", CODE, "-k", kernel, "-v", "1", "-f", "submission.csv", "-m", "stock")
    assert done.returncode == 0, done.stderr + done.stdout
    [sub] = sandbox.store.submissions(CODE)
    code, out, err = cli("submit", "-c", CODE, "--kernel", kernel, "-m", "again", "--version", "1", "--wait", "-q")
    assert code == 0, err
    rerun = sandbox.sessions_dir / "reruns" / str(sub["ref"] + 1) / "working" / "submission.csv"
    assert ids_of(rerun) == ids_of(hidden(sandbox) / "sample_submission.csv")  # the hidden ids, every one
    expected = sklearn_log_loss(rerun, hidden(sandbox) / "solution.csv")
    assert expected == pytest.approx(math.log(10), abs=1e-4)  # the sample submission's uniform probabilities
    assert f"public score: {expected:.5f}" in out


def test_a_notebook_submitted_to_a_code_competition_is_rerun_as_a_notebook_on_the_hidden_set(cli, code_env, sandbox):
    kernel = push_script(code_env / "nb", "notebook-reads-at-run-time", SCRIPTS["reads-at-run-time"], "notebook")
    code, out, err = cli("submit", "-c", CODE, "--kernel", kernel, "-m", "notebook", "--version", "1", "--wait", "-q")
    assert code == 0, err
    [sub] = sandbox.store.submissions(CODE)
    rerun = sandbox.sessions_dir / "reruns" / str(sub["ref"]) / "working"
    assert ids_of(rerun / "submission.csv") == ids_of(hidden(sandbox) / "sample_submission.csv")
    assert (rerun / "__notebook__.ipynb").is_file()  # run cell by cell, as a notebook
    assert f"public score: {sklearn_log_loss(rerun / 'submission.csv', hidden(sandbox) / 'solution.csv'):.5f}" in out


# -- never twice, and the version of the last push -------------------------------------

def quick_kagglekit_kernel(cli, name: str) -> Path:
    """A kagglekit-built kernel folder whose script is replaced by a quick one (no training)."""
    code, out, err = cli("kernel", "build", "-c", CODE, *TINY, "--name", name)
    assert code == 0, err
    folder = Path("kernels") / name
    (folder / f"{name}.py").write_text(HEAD + SCRIPTS["reads-at-run-time"])
    return folder


def test_submit_kernel_takes_the_version_of_the_last_push_and_never_submits_twice(cli, code_env, sandbox):
    from kagglekit.kernels.remote import wait_for

    quick_kagglekit_kernel(cli, "digits-versions")
    for expected in (1, 2):
        code, out, err = cli("kernel", "push", "digits-versions", "-q")
        assert code == 0, err
        assert f"(version {expected})" in out
        wait_for(["kaggler/digits-versions"], timeout=120)
    sandbox.faults.set(lose=1, only="CreateCodeSubmission")  # taken, but the answer is lost
    code, out, err = cli("submit", "-c", CODE, "--kernel", "kaggler/digits-versions", "-m", "latest", "--wait", "-q")
    assert code == 0, err
    assert "submitted kaggler/digits-versions@2/submission.csv" in out and "public score:" in out
    [sub] = sandbox.store.submissions(CODE)  # one submission, though the call was sent twice
    assert sub["kernel_version"] == 2 and sandbox.stats["CreateCodeSubmission"] == 1


# -- inference kernels, with real (tiny) training --------------------------------------


def test_upload_run_and_predict_from_refuse_bad_input(cli, code_env, sandbox, tmp_path):
    code, out, err = cli("upload-run", tmp_path, "--dataset", "kaggler/x", "-q")
    assert code == 1 and "slug of 6 to 50" in one_error(err)
    code, out, err = cli("upload-run", tmp_path, "--dataset", "kaggler/some-models", "-q")
    assert code == 1 and "not a kagglekit run folder" in one_error(err)
    code, out, err = cli("kernel", "build", "-c", CODE, "--predict-from", "kaggler/nothing-here")
    assert code == 1 and "Kaggle has no kernel or dataset kaggler/nothing-here" in one_error(err)
    code, out, err = cli("kernel", "build", "-c", CODE, "--predict-from", "model:kaggler/x")
    assert code == 1 and "kernel:OWNER/SLUG or dataset:OWNER/SLUG" in one_error(err)
    code, out, err = cli("kernel", "build", "-c", CODE, "--predict-from", "dataset:kaggler/x", "--internet")
    assert code == 1 and "reruns kernels with the internet off" in one_error(err)


# -- the sandbox's datasets, through the stock CLI ---------------------------------------

def test_stock_cli_creates_and_versions_a_dataset_and_a_kernel_mounts_the_version_it_names(
        code_env, sandbox, run_kaggle):
    folder = code_env / "ds"
    (folder / "models").mkdir(parents=True)
    (folder / "models" / "weights.bin").write_bytes(b"first")
    (folder / "notes.txt").write_text("v1")
    (folder / "dataset-metadata.json").write_text(json.dumps(
        {"id": "kaggler/tiny-weights", "title": "tiny-weights", "licenses": [{"name": "CC0-1.0"}]}))
    done = run_kaggle("datasets", "create", "-p", str(folder), "--dir-mode", "zip")
    assert done.returncode == 0 and "error" not in done.stdout.lower(), done.stdout + done.stderr
    done = run_kaggle("datasets", "create", "-p", str(folder), "--dir-mode", "zip")  # the slug is taken now
    assert "already in use" in done.stdout + done.stderr
    (folder / "models" / "weights.bin").write_bytes(b"second")
    done = run_kaggle("datasets", "version", "-p", str(folder), "-m", "v2", "--dir-mode", "zip")
    assert done.returncode == 0 and "error" not in done.stdout.lower(), done.stdout + done.stderr
    assert run_kaggle("datasets", "status", "kaggler/tiny-weights").stdout.strip() == "ready"

    body = ("for v in ('tiny-weights',):\n"
            "    print('mounted:', open(os.path.join(inp, v, 'models', 'weights.bin')).read())\n")
    from kagglekit.kaggle.remote import connect

    (code_env / "k").mkdir()
    (code_env / "k" / "run.py").write_text(HEAD + body)
    (code_env / "k" / "kernel-metadata.json").write_text(json.dumps({
        "id": "kaggler/reads-weights", "title": "reads-weights", "code_file": "run.py", "language": "python",
        "kernel_type": "script", "is_private": True, "enable_gpu": False, "enable_tpu": False,
        "enable_internet": False, "competition_sources": [CODE], "dataset_sources": ["kaggler/tiny-weights/1"],
        "kernel_sources": [], "model_sources": []}))
    answer = connect().kernels_push(str(code_env / "k"))
    assert not answer.error and not answer.invalid_dataset_sources
    from kagglekit.kernels.remote import wait_for

    [status] = wait_for(["kaggler/reads-weights"], timeout=120)
    assert status.status == "COMPLETE", status.failure
    log = (sandbox.sessions_dir / "kernels" / "kaggler" / "reads-weights" / "1" / "log.txt").read_text()
    assert "mounted: first" in log  # version 1, as named, unpacked from the folder's zip
