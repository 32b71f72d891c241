"""The soak: many submits, fetches and kill -9s against a sandbox on loopback, with the stock kaggle client.

Bounded in count and in time, and never off this machine: a sandbox on
127.0.0.1 with a free port, the client pointed at it (its config folder an
empty temporary one, so no real credentials are read). Three parts:

- submits: each after a random fault from the sandbox's list (faults.py), a
  few sent by two processes at once; the server must end with exactly as many
  submissions as were asked for, none doubled;
- fetches (the whole competition, or one file) with cut, stalled and
  unanswered downloads: after each, every file is complete with its checksum,
  or absent;
- kill -9 at a random moment of `train` (the tiny demo run) and of
  `kernel output`: each resume must end with a valid submission, and no
  half-written fold, run or folder may be taken for complete.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from kagglekit.core.environment import changed_environment
from kagglekit.core.errors import KagglekitError

log = logging.getLogger("kagglekit")
DEMO = "demo-digits"
SUBMIT_METHODS = ("ListSubmissions", "StartSubmissionUpload", "CreateSubmission", "GetSubmissionLimits")
FETCH_METHODS = ("DownloadDataFiles", "DownloadDataFile", "ListDataFiles")
ATTEMPTS, TIMEOUT = 3, 2.0  # the client's tries and seconds per read during the soak: faults cost little time
# Steps whose calls are slow on purpose (the concurrent submits) or by nature (a kernel push starts a session).
SLOW_CALLS = {"KAGGLEKIT_HTTP_TIMEOUT": "30", "KAGGLEKIT_HTTP_ATTEMPTS": "5"}
TINY_RUN = ["-c", DEMO, "--folds", "2", "--epochs", "2", "--sample", "60", "--image-size", "16",
            "--model", "bn_cnn_small", "--tta", "1"]


@dataclass
class SoakResult:
    """What the soak did and found: counts by (part, outcome), and every broken promise in a sentence."""

    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n


def soak(submits: int = 200, fetches: int = 50, kills: int = 4, seed: int | None = None,
         time_limit: float = 3600.0, workdir: Path | None = None) -> SoakResult:
    """Run the soak (SUBMITS, FETCHES, KILLS) within TIME_LIMIT seconds; the counts and any problems found."""
    from kagglekit.sandbox.server import Sandbox

    rng, result, started = random.Random(seed), SoakResult(), time.monotonic()
    deadline = started + time_limit
    with _workspace(workdir) as home, _client_env(home) as env:
        sandbox = Sandbox([], state_dir=home / "sandbox", host="127.0.0.1", port=0, daily_limit=submits * 3 + 10,
                          scoring_delay=0.0).start()
        try:
            env.update(sandbox.client_env())
            os.environ.update(env)
            data = _fetch_clean(home / "data")
            for part, run in (("submits", lambda: _submits(sandbox, data, submits, rng, result, deadline)),
                              ("fetches", lambda: _fetches(sandbox, home / "fetched", fetches, rng, result, deadline)),
                              ("kills", lambda: _kills(sandbox, home, data, kills, rng, result, deadline))):
                part_started = time.monotonic()
                run()
                result.add(f"{part}: seconds", round(time.monotonic() - part_started))
        finally:
            sandbox.faults.clear()
            sandbox.stop()
    if time.monotonic() > deadline:
        result.problems.append(f"the soak ran past its time limit of {time_limit:.0f} s; parts were cut short")
    result.seconds = time.monotonic() - started
    return result


# -- the place and the client ----------------------------------------------------------------

@contextmanager
def _workspace(workdir: Path | None) -> Iterator[Path]:
    """A folder of the soak's own, the working folder meanwhile (removed afterwards unless WORKDIR was given)."""
    home = Path(workdir).resolve() if workdir else Path(tempfile.mkdtemp(prefix="kagglekit-soak-"))
    home.mkdir(parents=True, exist_ok=True)
    cwd = Path.cwd()
    os.chdir(home)
    try:
        yield home
    finally:
        os.chdir(cwd)
        if workdir is None:
            shutil.rmtree(home, ignore_errors=True)


@contextmanager
def _client_env(home: Path) -> Iterator[dict]:
    """The environment of the soak: the client kept to loopback, short timeouts, a cache of its own; restored after."""
    module = sys.modules.get("kaggle.api.kaggle_api_extended")
    if module is not None and "--local" not in module.KaggleApi.args:
        raise KagglekitError("the kaggle client was already set up for Kaggle itself in this process; run the soak "
                             "in a process of its own ('make soak' or 'kagglekit soak')")
    env = {"KAGGLE_API_ENVIRONMENT": "LOCALHOST", "KAGGLE_CONFIG_DIR": str(home / "kaggle-config"),
           "HOME": str(home / "home"), "KAGGLEKIT_CACHE": str(home / ".cache"),
           "KAGGLEKIT_HTTP_ATTEMPTS": str(ATTEMPTS), "KAGGLEKIT_HTTP_BACKOFF": "0.01",
           "KAGGLEKIT_HTTP_TIMEOUT": str(TIMEOUT), "KAGGLEKIT_KERNEL_POLL": "0.3", "PYTHONUNBUFFERED": "1"}
    for folder in ("kaggle-config", "home", ".cache"):
        (home / folder).mkdir(exist_ok=True)
    # An access token would take precedence over the sandbox's key; the sandbox's own names are added later.
    names = {"KAGGLE_API_TOKEN": None, "KAGGLE_USERNAME": None, "KAGGLE_KEY": None, "http_proxy": None,
             "HTTP_PROXY": None, "no_proxy": None, "NO_PROXY": None}
    with changed_environment({**names, **env}):
        yield env


def _fetch_clean(data: Path) -> Path:
    from kagglekit.competition.definition import load_competition
    from kagglekit.kaggle.fetch import fetch_competition

    fetch_competition(load_competition(DEMO), data)
    return data


def _kagglekit(*args: str, cwd: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "kagglekit", *args], cwd=cwd, env=dict(os.environ),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(proc: subprocess.Popen, deadline: float) -> tuple[int, str]:
    try:
        out, _ = proc.communicate(timeout=max(5.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        return -9, out + "\n(stopped by the soak's time limit)"
    return proc.returncode, out


# -- submits ------------------------------------------------------------------------------------

def submit_fault(rng: random.Random) -> tuple[str, dict]:
    """A random fault for one submit, by name: each is survived by the retries, or ends in a rerun."""
    kind = rng.choice(["fail", "lose", "lose-all", "slow", "hang", "none"])
    if kind == "fail":
        return kind, dict(fail=rng.randint(1, ATTEMPTS - 1), status=rng.choice([500, 502, 503, 429]),
                          only=rng.choice(SUBMIT_METHODS))
    if kind == "lose":
        return kind, dict(lose=rng.randint(1, ATTEMPTS - 1), status=rng.choice([500, 503]),
                          only=rng.choice(["StartSubmissionUpload", "CreateSubmission"]))
    if kind == "lose-all":  # the answer lost, with no retry left: the command fails, its rerun must adopt it
        return kind, dict(lose=1, status=503, only="CreateSubmission")
    if kind == "slow":
        return kind, dict(slow=rng.randint(1, 3), delay=0.2)
    if kind == "hang":
        return kind, dict(hang=1, only=rng.choice(SUBMIT_METHODS))
    return kind, {}


def _submits(sandbox, data: Path, n: int, rng: random.Random, result: SoakResult, deadline: float) -> None:
    from kagglekit.competition.definition import load_competition
    from kagglekit.kaggle.submit import submit_file

    comp, sample = load_competition(DEMO), data / "sample_submission.csv"
    before = len(sandbox.store.submissions(DEMO))
    for i in range(n):
        if time.monotonic() > deadline:
            break
        message = f"soak {i}"
        kind, fault = submit_fault(rng)
        sandbox.faults.clear()
        sandbox.faults.set(**fault)
        if i % 10 == 5:  # two processes send the same file at once
            _submit_twice_at_once(sandbox, sample, data, message, result, deadline)
            continue
        try:
            with changed_environment({"KAGGLEKIT_HTTP_ATTEMPTS": "1" if kind == "lose-all" else str(ATTEMPTS)}):
                submit_file(comp, sample, message, data)
            result.add(f"submits: sent after '{kind}'")
        except KagglekitError as exc:
            if "run the same command again" not in str(exc):
                result.problems.append(f"submit {i} after '{kind}' {fault}: {exc}")
                continue
            sandbox.faults.clear()
            try:
                submit_file(comp, sample, message, data)  # what the user is told to do
                result.add("submits: failed, then adopted by the rerun")
            except KagglekitError as again:
                result.problems.append(f"the rerun of submit {i} after '{kind}' {fault}: {again}")
    sandbox.faults.clear()
    subs = sandbox.store.submissions(DEMO)[: len(sandbox.store.submissions(DEMO)) - before]
    messages = [s["description"] for s in subs]
    doubled = len(messages) - len(set(messages))
    result.add("submits: asked for", n)
    result.add("submits: on the server", len(subs))
    result.add("submits: doubled", doubled)
    if len(set(messages)) != n or doubled:
        twice = sorted({m for m in messages if messages.count(m) > 1})
        result.problems.append(f"the server has {len(subs)} submissions ({len(set(messages))} different) after {n} "
                               f"submits; doubled: {', '.join(twice) or 'none'}")


def _submit_twice_at_once(sandbox, sample: Path, data: Path, message: str, result: SoakResult,
                          deadline: float) -> None:
    sandbox.faults.set(slow=10, delay=1.0, only="")  # the first one's sending lasts past the second one's start
    with changed_environment(SLOW_CALLS):
        procs = [_kagglekit("submit", str(sample), "-c", DEMO, "--data-dir", str(data), "-m", message, "-q")
                 for _ in range(2)]
    outs = [_finish(p, deadline) for p in procs]
    if [code for code, _ in outs] != [0, 0]:
        for code, out in outs:
            if code and "run the same command again" in out:  # lost answer: the rerun adopts it
                code, out = _finish(_kagglekit("submit", str(sample), "-c", DEMO, "--data-dir", str(data), "-m",
                                               message, "-q"), deadline)
            if code:
                result.problems.append(f"a concurrent submit of '{message}' failed: {out.strip()[-300:]}")
                return
    result.add("submits: sent by two processes at once")


# -- fetches ------------------------------------------------------------------------------------

def fetch_fault(rng: random.Random, size: int) -> tuple[str, dict]:
    """A random fault for one fetch of a download of SIZE bytes: cut, stalled, unanswered or failed."""
    kind = rng.choice(["drop", "stall", "hang", "fail", "none"])
    if kind == "drop":
        return kind, dict(drop=rng.randint(1, ATTEMPTS), drop_after=rng.randint(1, max(2, size - 1)))
    if kind == "stall":
        return kind, dict(stall=rng.randint(1, ATTEMPTS), stall_after=rng.randint(1, max(2, size - 1)))
    if kind == "hang":
        return kind, dict(hang=rng.randint(1, ATTEMPTS), only=rng.choice(FETCH_METHODS))
    if kind == "fail":
        return kind, dict(fail=rng.randint(1, ATTEMPTS), status=rng.choice([500, 503, 429]))
    return kind, {}


def _served(sandbox) -> dict[str, str]:
    """sha256 of every file the sandbox serves for the demo, by relative path."""
    bundle = sandbox.bundles[DEMO]
    return {name: _sha256(bundle.folder / name) for name in bundle.files}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_fetched(data: Path, served: dict[str, str], unpacked: tuple[str, ...] = ()) -> list[str]:
    """What is wrong in DATA: a served file whose bytes differ, or a file nobody served (outside the staging
    folder, the fetch record and the folders unpacked from archives)."""
    from kagglekit.kaggle.fetch import FETCH_MARKER, STAGING

    wrong = []
    if not data.is_dir():
        return wrong
    for path in sorted(p for p in data.rglob("*") if p.is_file()):
        rel = path.relative_to(data).as_posix()
        top = rel.split("/", 1)[0]
        if top in (STAGING, FETCH_MARKER) or top in unpacked:
            continue
        if rel not in served:
            wrong.append(f"{rel}: not a file the server sends")
        elif _sha256(path) != served[rel]:
            wrong.append(f"{rel}: its bytes differ from the server's")
    return wrong


def _fetches(sandbox, data: Path, n: int, rng: random.Random, result: SoakResult, deadline: float) -> None:
    from kagglekit.competition.definition import load_competition
    from kagglekit.kaggle.fetch import fetch_competition, fetch_files

    comp, served = load_competition(DEMO), _served(sandbox)
    unpacked = tuple(Path(name).stem for name in comp.files.unpack)
    size = max((sandbox.bundles[DEMO].folder / name).stat().st_size for name in served)
    for i in range(n):
        if time.monotonic() > deadline:
            break
        one = rng.choice(sorted(served)) if rng.random() < 0.4 else None
        force = rng.random() < 0.5

        def run():
            return fetch_files(comp, [one], data, force=force) if one else fetch_competition(comp, data, force=force)

        kind, fault = fetch_fault(rng, size)
        sandbox.faults.clear()
        sandbox.faults.set(**fault)
        what = f"fetch {i} ({one or 'everything'}) after '{kind}'"
        outcome = _try(run)
        wrong = check_fetched(data, served, unpacked)
        if wrong:
            result.problems.append(f"{what}: {'; '.join(wrong[:3])}")
        if outcome is None:
            result.add(f"fetches: complete after '{kind}'")
            continue
        sandbox.faults.clear()
        again = _try(run)  # the user runs the same command again
        wrong = check_fetched(data, served, unpacked)
        if again is not None or wrong:
            result.problems.append(f"{what}, run again: {again or '; '.join(wrong[:3])}")
        else:
            result.add("fetches: failed in one line, then completed by the rerun")
    sandbox.faults.clear()
    result.add("fetches: files checked against the server's checksums",
               sum(1 for name in served if (data / name).is_file()))


def _try(fn: Callable[[], object]) -> str | None:
    try:
        fn()
        return None
    except KagglekitError as exc:
        return str(exc)


# -- kill -9 -----------------------------------------------------------------------------------------

def _kills(sandbox, home: Path, data: Path, n: int, rng: random.Random, result: SoakResult, deadline: float) -> None:
    with changed_environment(SLOW_CALLS):
        _kill_all(sandbox, home, data, n, rng, result, deadline)


def _kill_all(sandbox, home: Path, data: Path, n: int, rng: random.Random, result: SoakResult,
              deadline: float) -> None:
    trains, outputs = (n + 1) // 2, n // 2
    for i in range(trains):
        if time.monotonic() > deadline:
            return
        _kill_train(home / f"train-{i}", data, rng, result, deadline)
    if outputs and time.monotonic() < deadline:
        _kill_outputs(sandbox, home, data, outputs, rng, result, deadline)


def _kill_at_random(proc: subprocess.Popen, earliest: float, latest: float, rng: random.Random) -> bool:
    """kill -9 PROC after a random wait; False when it had ended by itself before."""
    wait = rng.uniform(earliest, latest)
    try:
        proc.wait(timeout=wait)
        proc.communicate()
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        return True


def _kill_train(folder: Path, data: Path, rng: random.Random, result: SoakResult, deadline: float) -> None:
    from kagglekit.runs.folder import RunFolder

    run = folder / "run"
    folder.mkdir(parents=True)
    args = ["train", *TINY_RUN, "--data-dir", str(data), "--run-dir", str(run), "--no-report", "-q"]
    killed = _kill_at_random(_kagglekit(*args, cwd=folder), 3.0, 25.0, rng)
    result.add("kills: train killed mid-way" if killed else "kills: train ended before its kill")
    result.problems += [f"train killed: {p}" for p in check_folds(RunFolder(run))]
    code, out = _finish(_kagglekit(*args, cwd=folder), deadline)
    if code:
        result.problems.append(f"the resumed train failed: {out.strip()[-300:]}")
        return
    _predict_and_validate(folder, run, data, result, deadline, "train")


def check_folds(run) -> list[str]:
    """Folds of RUN that say they are done without what a done fold has (its model, its OOF rows)."""
    problems = []
    if not run.path.is_dir():
        return problems
    for fold in run.folds():
        if fold.done and not (fold.path / "best.keras").is_file():
            problems.append(f"{fold.path.name} is marked done without its model")
        if fold.done and not (fold.path / "oof.csv").is_file():
            problems.append(f"{fold.path.name} is marked done without its OOF predictions")
    return problems


def _predict_and_validate(folder: Path, run: Path, data: Path, result: SoakResult, deadline: float,
                          what: str) -> None:
    submission = run / "submission.csv"
    if not submission.is_file():
        code, out = _finish(_kagglekit("predict", "-c", DEMO, "--run-dir", str(run), "--data-dir", str(data),
                                       "--tta", "1", "-q", cwd=folder), deadline)
        if code:
            result.problems.append(f"predict after the {what} resume failed: {out.strip()[-300:]}")
            return
    code, out = _finish(_kagglekit("validate", str(submission), "-c", DEMO, "--data-dir", str(data), cwd=folder),
                        deadline)
    if code:
        result.problems.append(f"the submission after the {what} resume is not valid: {out.strip()[-300:]}")
    else:
        result.add(f"kills: {what} resumed to a valid submission")


def _kill_outputs(sandbox, home: Path, data: Path, n: int, rng: random.Random, result: SoakResult,
                  deadline: float) -> None:
    from kagglekit.runs.folder import RunFolder, find_run_dirs

    folder = home / "kernel"
    folder.mkdir()
    name = "digits-soak"
    for args in (["kernel", "build", *TINY_RUN, "--name", name], ["kernel", "push", name, "-q"],
                 ["kernel", "status", name, "--wait", "-q"]):
        code, out = _finish(_kagglekit(*args, cwd=folder), deadline)
        if code:
            result.problems.append(f"kagglekit {' '.join(args[:2])} failed: {out.strip()[-300:]}")
            return
    runs = folder / "runs"
    for i in range(n):
        sandbox.faults.clear()
        # A file download stops partway (for the 30 s of a read timeout): the kill finds files half-written.
        sandbox.faults.set(stall=100, stall_after=rng.randint(1, 50_000))
        killed = _kill_at_random(_kagglekit("kernel", "output", name, "-q", cwd=folder), 2.0, 10.0, rng)
        sandbox.faults.clear()
        result.add("kills: kernel output killed mid-way" if killed else "kills: kernel output ended before its kill")
        listed = find_run_dirs(runs)
        hidden = [p for p in listed if p.name.startswith(".")]
        if hidden:
            result.problems.append(f"kagglekit runs lists the half-written {hidden[0]}")
        for run in listed:
            result.problems += [f"kernel output killed: {p}" for p in check_folds(RunFolder(run))]
        code, out = _finish(_kagglekit("kernel", "output", name, "-q", cwd=folder), deadline)
        if code:
            result.problems.append(f"the resumed kernel output failed: {out.strip()[-300:]}")
            continue
        left = [p for p in (runs / DEMO).glob(".*") if p.suffix in (".partial", ".old")]
        if left:
            result.problems.append(f"kernel output left {left[0].name} behind")
        _predict_and_validate(folder, runs / DEMO / name, data, result, deadline, "kernel output")
