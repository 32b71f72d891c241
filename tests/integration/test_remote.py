"""Every remote step against a sandbox that misbehaves: no hang, no double submission, no half file.

The stock kaggle client talks to the sandbox; the sandbox's faults make it
accept a call and never answer, stall a download, or lose answers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest


DEMO = "demo-digits"
TIMEOUT, ATTEMPTS = 2, 2
BOUND = 2 * TIMEOUT * ATTEMPTS  # what "no hang" promises: twice the timeout times the attempts
MODEL_BYTES = 3 * 1024 * 1024


@pytest.fixture
def short_timeouts(monkeypatch):
    monkeypatch.setenv("KAGGLEKIT_HTTP_TIMEOUT", str(TIMEOUT))
    monkeypatch.setenv("KAGGLEKIT_HTTP_ATTEMPTS", str(ATTEMPTS))
    monkeypatch.setenv("KAGGLEKIT_HTTP_BACKOFF", "0.01")


def one_error(err: str) -> str:
    """The one error line a failed command printed (retries may warn before it); fails if there are more."""
    lines = err.strip().splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], err
    return errors[0]


def timed(cli, *args):
    started = time.monotonic()
    code, out, err = cli(*args)
    return code, out, err, time.monotonic() - started


def fetch_demo(cli, workdir):
    code, out, err = cli("fetch", "-c", DEMO, "--data-dir", workdir / "data" / DEMO, "-q")
    assert code == 0, err
    return workdir / "data" / DEMO


# -- a kernel whose script writes a small run folder ------------------------------------

QUICK_SCRIPT = textwrap.dedent('''
    import json, os
    working = os.environ.get("KAGGLEKIT_KAGGLE_WORKING", "/kaggle/working")
    os.makedirs(os.path.join(working, "fold_0"), exist_ok=True)
    def write(name, data):
        with open(os.path.join(working, name), "wb") as fh:
            fh.write(data)
    write("config.json", json.dumps({"folds": 2, "model": "bn_cnn_small", "image_size": 16}).encode())
    write("run.json", json.dumps({"competition": "demo-digits"}).encode())
    write("folds.csv", b"id,fold\\n")
    write("fold_0/best.keras", bytes(range(256)) * 12288)  # 3 MB: more than one of the client's 1 MB chunks
    write("fold_0/result.json", json.dumps({"fold": 0, "score": 0.5}).encode())
    print("quick run written")
''')


def push_quick_kernel(folder: Path, slug: str = "quick-run") -> str:
    """Push a script kernel with the stock client's library; its session writes a run folder. Returns its id."""
    from kagglekit.kaggle.remote import connect

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "quick.py").write_text(QUICK_SCRIPT)
    (folder / "kernel-metadata.json").write_text(json.dumps({
        "id": f"kaggler/{slug}", "title": slug, "code_file": "quick.py", "language": "python",
        "kernel_type": "script", "is_private": True, "enable_gpu": False, "enable_tpu": False,
        "enable_internet": False, "competition_sources": [DEMO], "dataset_sources": [], "kernel_sources": [],
        "model_sources": []}))
    answer = connect().kernels_push(str(folder))
    assert not answer.error, answer.error
    return f"kaggler/{slug}"


def wait_complete(kernel_id: str) -> None:
    from kagglekit.kernels.remote import wait_for

    [status] = wait_for([kernel_id], timeout=120)
    assert status.status == "COMPLETE", status.failure


@pytest.fixture
def quick_kernel(make_sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("KAGGLEKIT_KERNEL_POLL", "0.2")
    sandbox = make_sandbox()
    kernel_id = push_quick_kernel(tmp_path / "quick")
    wait_complete(kernel_id)
    return sandbox, kernel_id


def demo_definition() -> str:
    from kagglekit.competition.definition import load_competition

    return str(load_competition(DEMO).source)


# -- no call waits forever --------------------------------------------------------------

def test_fetch_from_a_server_that_never_answers_ends_in_one_line(cli, workdir, sandbox, short_timeouts):
    sandbox.faults.set(hang=100, only="DownloadDataFiles")
    code, out, err, seconds = timed(cli, "fetch", "-c", DEMO, "--data-dir", workdir / "d", "-q")
    assert code == 1 and one_error(err)
    assert "could not reach Kaggle" in err and f"no answer within {TIMEOUT} s" in err and f"after {ATTEMPTS} tries" in err
    assert seconds < BOUND


def test_an_access_token_checked_against_a_server_that_never_answers_ends_in_one_line(cli, workdir, sandbox,
                                                                                       short_timeouts, monkeypatch):
    _, key = sandbox.store.credentials()
    monkeypatch.setenv("KAGGLE_API_TOKEN", key)  # authenticate() checks a token with the server
    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")
    sandbox.faults.set(hang=100, only="IntrospectToken")
    code, out, err, seconds = timed(cli, "fetch", "-c", DEMO, "--data-dir", workdir / "d", "-q")
    assert code == 1 and "could not reach Kaggle to check your Kaggle credentials" in one_error(err)
    assert f"no answer within {TIMEOUT} s" in err and f"after {ATTEMPTS} tries" in err and seconds < BOUND
    sandbox.faults.clear()
    code, out, err = cli("fetch", "-c", DEMO, "--data-dir", workdir / "d", "-q")  # the token itself is fine
    assert code == 0, err


def test_timeouts_are_set_on_the_clients_own_sessions_not_on_requests_for_the_whole_process(sandbox):
    import requests
    import requests.adapters

    from kagglekit.kaggle.remote import connect

    send = requests.adapters.HTTPAdapter.send
    api = connect()
    assert requests.adapters.HTTPAdapter.send is send  # nothing else in the process changed
    with api.build_kaggle_client() as kaggle:
        adapter = kaggle.http_client()._session.get_adapter("http://localhost/api/v1")
    assert type(adapter) is not requests.adapters.HTTPAdapter  # the client's session has its timeout
    assert type(requests.Session().get_adapter("http://localhost/")) is requests.adapters.HTTPAdapter


def test_a_stalled_download_times_out_between_chunks_and_keeps_what_arrived(cli, workdir, sandbox, short_timeouts):
    sandbox.faults.set(stall=100, stall_after=200_000)
    code, out, err, seconds = timed(cli, "fetch", "-c", DEMO, "--data-dir", workdir / "d", "-q")
    assert code == 1 and one_error(err)
    assert "cut off" in err and "run the same command again to resume" in err and seconds < BOUND
    sandbox.faults.clear()
    code, out, err = cli("fetch", "-c", DEMO, "--data-dir", workdir / "d")
    assert code == 0, err
    assert "resumed after" in out


def test_submit_to_a_server_that_never_answers_ends_in_one_line(cli, workdir, sandbox, short_timeouts):
    data = fetch_demo(cli, workdir)
    sandbox.faults.set(hang=100, only="StartSubmissionUpload")
    code, out, err, seconds = timed(cli, "submit", data / "sample_submission.csv", "-c", DEMO, "--data-dir", data,
                                    "-m", "hang")
    assert code == 1 and one_error(err)
    assert "could not reach Kaggle" in err and "may already have reached Kaggle" in err
    assert seconds < BOUND + 2  # one listing call before the upload


def test_kernel_status_and_output_from_a_server_that_never_answers(quick_kernel, tmp_path, short_timeouts):
    from kagglekit.core.errors import KagglekitError
    from kagglekit.kernels.remote import download_output, statuses

    sandbox, kernel_id = quick_kernel
    sandbox.faults.set(hang=100, only="GetKernelSessionStatus")
    started = time.monotonic()
    with pytest.raises(KagglekitError, match=fr"could not reach Kaggle .* \(no answer within {TIMEOUT} s\)"):
        statuses([kernel_id])
    assert time.monotonic() - started < BOUND
    sandbox.faults.set(hang=0, stall=100, stall_after=10_000)
    started = time.monotonic()
    with pytest.raises(KagglekitError, match=f"after {ATTEMPTS} tries"):
        download_output(kernel_id, tmp_path / "run", demo_definition())
    assert time.monotonic() - started < BOUND + 2  # plus the listing calls that did answer
    assert not (tmp_path / "run").exists()  # nothing that looks like a run


def test_kernel_status_cli_against_a_server_that_never_answers(cli, workdir, sandbox, short_timeouts, monkeypatch):
    code, _, err = cli("kernel", "build", "-c", DEMO, "--folds", "2", "--epochs", "1", "--image-size", "16",
                       "--model", "bn_cnn_small", "--sample", "60", "--tta", "1", "--name", "digits-hang")
    assert code == 0, err
    code, _, err = cli("kernel", "push", "digits-hang", "-q")
    assert code == 0, err
    sandbox.faults.set(hang=100, only="GetKernelSessionStatus")
    code, out, err, seconds = timed(cli, "kernel", "status", "digits-hang", "-q")
    assert code == 1 and one_error(err) and "could not reach Kaggle" in err
    assert seconds < BOUND


# -- kernel output never leaves a file that looks complete ----------------------------------

KILLABLE = textwrap.dedent('''
    import sys
    from kagglekit.kernels.remote import download_output
    download_output(sys.argv[1], sys.argv[2], sys.argv[3])
''')


def test_a_killed_kernel_output_leaves_the_earlier_copy_as_it_was(quick_kernel, tmp_path, monkeypatch):
    from kagglekit.kernels.remote import download_output
    from kagglekit.runs.folder import find_run_dirs

    sandbox, kernel_id = quick_kernel
    run = tmp_path / "runs" / DEMO / "run"
    download_output(kernel_id, run, demo_definition())
    before = {str(p.relative_to(run)): p.read_bytes() for p in run.rglob("*") if p.is_file()}
    assert len(before["fold_0/best.keras"]) == MODEL_BYTES
    (run / "submissions.json").write_text('[{"ref": 7}]')  # a local record survives a new download

    sandbox.faults.set(stall=100, stall_after=1_100_000)  # the first megabyte is written, then nothing comes
    monkeypatch.setenv("KAGGLEKIT_HTTP_TIMEOUT", "60")
    proc = subprocess.Popen([sys.executable, "-c", KILLABLE, kernel_id, str(run), demo_definition()],
                            env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(
            p.name == "best.keras" and p.stat().st_size > 0 for p in run.parent.glob(".run.*/fold_0/*")):
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()[0]
    proc.send_signal(signal.SIGKILL)  # killed mid-download
    proc.wait()
    after = {str(p.relative_to(run)): p.read_bytes() for p in run.rglob("*") if p.is_file()}
    assert {k: v for k, v in after.items() if k != "submissions.json"} == before  # nothing half-written in place
    [left] = run.parent.glob(".run.*.partial")  # what the killed process was filling, settings included
    assert (left / "config.json").is_file()
    assert find_run_dirs(tmp_path / "runs") == [run]  # `kagglekit runs` never lists it

    sandbox.faults.clear()
    download_output(kernel_id, run, demo_definition())
    assert (run / "fold_0" / "best.keras").stat().st_size == MODEL_BYTES
    assert list(run.parent.glob(".run.*")) == []  # the killed process's folder was swept
    assert json.loads((run / "submissions.json").read_text()) == [{"ref": 7}]


# -- never the same submission twice ---------------------------------------------------------

def test_a_rerun_after_exhausted_retries_adopts_the_submission_instead_of_sending_it_again(cli, workdir, sandbox,
                                                                                           monkeypatch):
    data = fetch_demo(cli, workdir)
    monkeypatch.setenv("KAGGLEKIT_HTTP_ATTEMPTS", "1")
    sandbox.faults.set(lose=100, only="CreateSubmission")  # Kaggle takes it, the answer never arrives
    args = ("submit", data / "sample_submission.csv", "-c", DEMO, "--data-dir", data, "-m", "lost answer")
    code, _, err = cli(*args)
    assert code == 1 and "may already have reached Kaggle" in err and "run the same command again" in err
    assert len(sandbox.store.submissions(DEMO)) == 1
    sandbox.faults.clear()
    code, out, err = cli(*args)
    assert code == 0, err
    assert "adopting it, not sending it again" in err and "(ref 1)" in out
    assert len(sandbox.store.submissions(DEMO)) == 1  # one submission on Kaggle, not two
    code, out, err = cli(*args)  # the record was cleared: a deliberate second submission is sent
    assert code == 0 and "(ref 2)" in out


SUBMIT_ONE = textwrap.dedent('''
    import sys
    from kagglekit.cli import main
    sys.argv = ["kagglekit", "submit", *sys.argv[1:]]
    main()
''')


def test_two_submits_of_one_file_at_once_make_one_submission(workdir, sandbox, cli):
    data = fetch_demo(cli, workdir)
    sandbox.faults.set(slow=10, delay=0.5)  # the first one's sending lasts past the second one's start
    args = [str(data / "sample_submission.csv"), "-c", DEMO, "--data-dir", str(data), "-m", "at once"]
    procs = [subprocess.Popen([sys.executable, "-c", SUBMIT_ONE, *args], env=dict(os.environ), cwd=workdir,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert len(sandbox.store.submissions(DEMO)) == 1  # one on Kaggle: the second process adopted the first's
    assert all("(ref 1)" in out for out, _ in outs), outs
    assert sum("adopting it" in err for _, err in outs) == 1, outs


def test_a_submission_created_after_its_call_timed_out_is_adopted_not_sent_again(cli, workdir, sandbox,
                                                                                  short_timeouts):
    data = fetch_demo(cli, workdir)
    sandbox.faults.set(slow=1, delay=TIMEOUT + 1, only="CreateSubmission")  # created after the client gave up
    code, out, err = cli("submit", data / "sample_submission.csv", "-c", DEMO, "--data-dir", data, "-m", "late")
    assert code == 0, err
    time.sleep(TIMEOUT + 1)  # the late call is done by now
    assert "(ref 1)" in out and len(sandbox.store.submissions(DEMO)) == 1


def test_a_refused_submission_leaves_nothing_in_flight(cli, workdir, sandbox):
    data = fetch_demo(cli, workdir)
    sandbox.configure(DEMO, closed=True)
    code, _, err = cli("submit", data / "sample_submission.csv", "-c", DEMO, "--data-dir", data, "-m", "closed")
    assert code == 1 and "has closed" in err and "may already have reached" not in err
    assert json.loads((workdir / ".cache" / "submissions-in-flight.json").read_text()) == []


# -- fetch --force resumes; a relative --state works -------------------------------------------

def test_a_forced_fetch_that_is_cut_off_resumes(cli, workdir, sandbox, monkeypatch):
    fetch_demo(cli, workdir)
    monkeypatch.setenv("KAGGLEKIT_HTTP_ATTEMPTS", "1")
    sandbox.faults.set(drop=1, drop_after=150_000)
    code, _, err = cli("fetch", "-c", DEMO, "--data-dir", workdir / "data" / DEMO, "--force")
    assert code == 1 and "run the same command again to resume" in err
    code, out, err = cli("fetch", "-c", DEMO, "--data-dir", workdir / "data" / DEMO, "--force")
    assert code == 0, err
    assert "resumed after" in out and sandbox.range_starts and sandbox.range_starts[-1] > 0


def test_a_sandbox_with_a_relative_state_folder_runs_kernels(make_sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("KAGGLEKIT_KERNEL_POLL", "0.2")
    monkeypatch.chdir(tmp_path)
    sandbox = make_sandbox(state=Path("sb"))
    assert sandbox.state_dir.is_absolute()
    kernel_id = push_quick_kernel(tmp_path / "quick")
    wait_complete(kernel_id)
    assert (tmp_path / "sb-sessions" / "kernels" / kernel_id / "1" / "working" / "fold_0" / "best.keras").is_file()


def test_sandbox_port_out_of_range_is_one_line_and_builds_nothing(cli, tmp_path):
    code, _, err = cli("sandbox", "--port", "99999", "--state", tmp_path / "s")
    assert code == 1 and "--port 99999 is not a port" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s").exists()  # no state folder, no bundle zips


# -- the user's key never goes into a kernel, not even inside a packed file ----------------------

def test_a_kernel_build_refuses_a_key_in_a_packed_file(cli, workdir, monkeypatch):
    from kagglekit.competition.definition import load_competition

    monkeypatch.setenv("KAGGLE_KEY", "0123456789abcdef-secret")
    mine = workdir / "mine.toml"
    text = Path(load_competition(DEMO).source).read_text()
    mine.write_text(text.replace('slug = "demo-digits"', 'slug = "demo-digits"\n# key 0123456789abcdef-secret'))
    code, _, err = cli("kernel", "build", "-c", mine, "--owner", "kaggler", "--name", "digits-secret")
    assert code == 1 and "holds the value of KAGGLE_KEY" in err and "mine.toml" in err
    assert not (workdir / "kernels" / "digits-secret").exists()
