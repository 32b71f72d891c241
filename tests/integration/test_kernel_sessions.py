"""Following kernel sessions through the real kaggle client against the sandbox: logs (kept and live), a given
version's status and output, the output pattern, the session timeout, the fan-out under Kaggle's session cap,
the accelerators Kaggle retired, and where a run came from in `kagglekit runs`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from kernel_fixtures import build, session_status, wait_until, working


ROOT = Path(__file__).resolve().parents[2]
DEMO = "demo-digits"
TINY = ["--epochs", "1", "--image-size", "16", "--model", "bn_cnn_small", "--sample", "60", "--tta", "1"]

# A session the test steers: a line on each stream, then it waits for working/release, whose text is the exit code.
# (The two streams are read side by side, so those first two lines may arrive in either order, as on Kaggle.)
STEERED = textwrap.dedent('''
    import os, sys, time
    print("first line of the session", flush=True)
    print("a warning on stderr", file=sys.stderr, flush=True)
    while not os.path.exists("release"):
        time.sleep(0.05)
    print("last line of the session", flush=True)
    sys.exit(int(open("release").read() or 0))
''')
FIRST_TWO = ["a warning on stderr", "first line of the session"]

# A session that writes a small run folder marked with WHICH (no training: the run folder contract is what counts).
RUN_WRITER = textwrap.dedent('''
    import json, os
    working = os.environ["KAGGLEKIT_KAGGLE_WORKING"]
    os.makedirs(os.path.join(working, "fold_0"), exist_ok=True)
    files = {{"config.json": json.dumps({{"folds": 2, "model": "bn_cnn_small", "image_size": 16, "augment": "shift"}}),
             "run.json": json.dumps({{"competition": "demo-digits", "data_dir": "/kaggle/input/demo-digits"}}),
             "folds.csv": "id,fold\\n", "fold_0/result.json": json.dumps({{"fold": 0, "score": 0.5}}),
             "which.txt": "{which}", "submission.csv": "id,0\\n"}}
    for name, text in files.items():
        with open(os.path.join(working, name), "w") as fh:
            fh.write(text)
    print("wrote the run of {which}")
''')


def follow(name: str, *extra: str) -> subprocess.Popen:
    """`kagglekit kernel logs NAME --follow` in a process of its own, its stdout read as it comes."""
    return subprocess.Popen([sys.executable, "-m", "kagglekit", "kernel", "logs", name, "--follow", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


# -- logs ------------------------------------------------------------------------------

def started(sandbox, slug: str, version: int) -> None:
    """Wait until the steered session has written its first two lines (one per stream: their order is set then)."""
    log = working(sandbox, slug, version).parent / "log.jsonl"
    wait_until(lambda: log.is_file() and log.read_text().count("\n") >= 2)


def test_logs_while_running_following_live_and_after(cli, session_env, run_kaggle):
    sandbox = session_env
    build(cli, "steered-logs", script=STEERED)
    code, out, err = cli("kernel", "push", "steered-logs", "-q")
    assert code == 0, err
    started(sandbox, "steered-logs", 1)

    code, out, err = cli("kernel", "logs", "steered-logs")  # while it runs: what it has written so far
    assert code == 0, err
    assert sorted(out.splitlines()) == FIRST_TWO  # lines, not Kaggle's JSON
    assert session_status(sandbox, "steered-logs", 1) == "RUNNING"

    sandbox.faults.set(drop=1, drop_after=120)  # the stream breaks off after its first line: followed on regardless
    follower = follow("steered-logs")
    assert sorted([follower.stdout.readline(), follower.stdout.readline()]) == [f"{line}\n" for line in FIRST_TWO]
    assert session_status(sandbox, "steered-logs", 1) == "RUNNING"  # the lines came while the session ran
    (working(sandbox, "steered-logs", 1) / "release").write_text("0")
    rest, err = follower.communicate(timeout=60)
    assert follower.returncode == 0, err
    assert rest == "last line of the session\n"  # nothing twice after the reconnection
    assert sandbox.stats["GetKernelSessionLogsStream"] >= 2

    code, out, err = cli("kernel", "logs", "steered-logs")  # after: the kept log
    assert code == 0, err
    assert sorted(out.splitlines()[:2]) == FIRST_TWO and out.splitlines()[2:] == ["last line of the session"]
    done = run_kaggle("kernels", "logs", "kaggler/steered-logs", "-f")  # the stock CLI reads the same stream
    assert done.returncode == 0 and done.stdout.splitlines()[-1] == "last line of the session", done.stderr


def test_follow_ends_with_the_status_of_a_failed_session_and_logs_take_a_version(cli, session_env):
    sandbox = session_env
    build(cli, "steered-fail", script=STEERED)
    for version, exit_code in ((1, "0"), (2, "3")):
        code, out, err = cli("kernel", "push", "steered-fail", "-q")
        assert code == 0 and f"(version {version})" in out, err
        started(sandbox, "steered-fail", version)
        (working(sandbox, "steered-fail", version) / "release").write_text(exit_code)
        follower = follow("steered-fail")  # the version pushed last
        out, err = follower.communicate(timeout=60)
    assert follower.returncode == 1
    assert "last line of the session" in out
    assert "error: kaggler/steered-fail ended error" in err

    code, out, err = cli("kernel", "logs", "steered-fail", "--version", "1")
    assert code == 0 and out.splitlines()[-1] == "last line of the session", err
    code, out, err = cli("kernel", "logs", "steered-fail", "--version", "7")
    assert code == 1 and "no version 7" in err


# -- versions, output pattern, session timeout, provenance --------------------------------

def test_versions_pattern_timeout_and_where_runs_came_from(cli, session_env, workdir):
    sandbox = session_env
    folder, _ = build(cli, "run-writer", "--gpu", "NvidiaTeslaT4", "--budget", "10m", script=RUN_WRITER.format(which="v1"))
    code, out, err = cli("kernel", "push", "run-writer", "-q")
    assert code == 0, err
    assert "pushed kaggler/run-writer (version 1, session timeout 55m00s)" in out  # 10 minutes + 45 to predict
    (folder / "run-writer.py").write_text(RUN_WRITER.format(which="v2"))
    code, out, err = cli("kernel", "push", "run-writer", "-q")
    assert code == 0 and "(version 2, session timeout 55m00s)" in out, err
    versions = sandbox.store.data["kernels"]["kaggler/run-writer"]["versions"]
    assert [v["timeout"] for v in versions] == [3300, 3300]  # what the client sent reached the session
    record = json.loads((folder / "pushed.json").read_text())
    assert [(h["version"], h["accelerator"], h["timeout"]) for h in record["history"]] == [
        (1, "NvidiaTeslaT4", 3300), (2, "NvidiaTeslaT4", 3300)]

    code, out, err = cli("kernel", "status", "run-writer", "--wait", "-q")
    assert code == 0 and "kaggler/run-writer: complete" in out, err
    code, out, err = cli("kernel", "status", "run-writer", "--version", "1", "--wait", "-q")
    assert code == 0 and "kaggler/run-writer (version 1): complete" in out, err
    code, out, err = cli("kernel", "status", "run-writer", "--version", "3")
    assert code == 1 and "no version 3" in err

    code, out, err = cli("kernel", "output", "run-writer", "-q")  # the version pushed last
    assert code == 0, err
    latest = workdir / "runs" / DEMO / "run-writer"
    assert (latest / "which.txt").read_text() == "v2"
    code, out, err = cli("kernel", "output", "run-writer", "--version", "1", "-q")
    assert code == 0, err
    first = workdir / "runs" / DEMO / "run-writer-v1"
    assert (first / "which.txt").read_text() == "v1" and (first / "run-writer.log").read_text() == "wrote the run of v1\n"
    info = json.loads((first / "run.json").read_text())
    assert (info["kernel"], info["kernel_version"], info["accelerator"]) == ("kaggler/run-writer", 1, "NvidiaTeslaT4")

    only = workdir / "only"
    code, out, err = cli("kernel", "output", "run-writer", "--version", "1", "--pattern", "which.txt",
                         "--run-dir", only, "-q")
    assert code == 0 and "1 files into" in out, err
    assert [p.name for p in only.rglob("*")] == ["which.txt"] and (only / "which.txt").read_text() == "v1"
    code, out, err = cli("kernel", "output", "run-writer", "--pattern", "*.keras", "--run-dir", only, "-q")
    assert code == 1 and "no output file of kaggler/run-writer matches '*.keras'" in err

    code, out, err = cli("runs", "-c", DEMO)
    assert code == 0, err
    rows = {line.split()[0]: line.rstrip() for line in out.splitlines()[1:]}
    assert rows["demo-digits/run-writer"].endswith("kaggler/run-writer v2 NvidiaTeslaT4")
    assert rows["demo-digits/run-writer-v1"].endswith("kaggler/run-writer v1 NvidiaTeslaT4")


def test_session_timeout_is_the_budget_plus_prediction_within_the_platform_limit():
    from kagglekit.kernels.remote import session_timeout

    assert session_timeout({"config": {"budget": None}, "spec": {"gpu": "NvidiaTeslaT4"}}) is None
    assert session_timeout({"config": {"budget": 3600.0}, "spec": {"gpu": None}}) == 3600 + 45 * 60
    assert session_timeout({"config": {"budget": 20 * 3600.0}, "spec": {"gpu": "NvidiaTeslaT4"}}) == 12 * 3600
    assert session_timeout({"config": {"budget": 20 * 3600.0}, "spec": {"gpu": "TpuV5E8"}}) == 9 * 3600


# -- the fan-out under Kaggle's cap on batch sessions ------------------------------------


def test_a_single_push_over_the_cap_is_refused_with_kaggles_words(cli, session_env):
    sandbox = session_env
    sandbox.max_kernel_sessions = 1
    build(cli, "steered-cap", "--gpu", "NvidiaTeslaT4", script=STEERED)
    code, out, err = cli("kernel", "push", "steered-cap", "-q")
    assert code == 0, err
    code, out, err = cli("kernel", "push", "steered-cap", "-q")
    assert code == 1
    assert "Maximum batch GPU session count of 1 reached" in err and "wait for a session to finish" in err
    started(sandbox, "steered-cap", 1)
    (working(sandbox, "steered-cap", 1) / "release").write_text("0")


# -- accelerators ------------------------------------------------------------------------

def test_every_accelerator_the_client_marks_retired_is_refused(cli, workdir):
    from kagglekit.kernels.accelerators import ACCELERATORS, current_accelerators, retired_accelerators

    retired = retired_accelerators()
    assert {"nvidiateslap100", "tpuv38", "tpu1vmv38"} <= set(retired)  # the client's own table
    names = {a.lower(): a for a in ACCELERATORS}
    for key in retired:
        shape = names.get(key, key)
        code, out, err = cli("kernel", "build", "-c", DEMO, "--owner", "kaggler", "--gpu", shape)
        assert code == 1, shape
        assert f"--gpu {shape} is retired" in err and "NvidiaTeslaT4, NvidiaL4" in err
    code, out, err = cli("kernel", "build", "-c", DEMO, "--owner", "kaggler", "--gpu", "NvidiaTeslaT4Highmem")
    assert code == 1 and "not open to general use" in err
    current = current_accelerators()
    assert "NvidiaTeslaP100" not in current and "NvidiaTeslaT4Highmem" not in current and "TpuV5E8" in current
    assert not (workdir / "kernels").exists()
