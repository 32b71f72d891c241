"""A kernel session from start to end: its folder, inputs, environment, process, time limit, log and outputs.

Pushed versions (kagglekit.sandbox.kernels) and code-competition reruns (kagglekit.sandbox.reruns) both run
here. Every session has a box of its own under the sandbox's sessions folder, which sits beside the state
folder, not inside it:
  <sessions>/kernels/<owner>/<slug>/<N>/   a pushed version's box; <sessions>/reruns/<ref>/ a rerun's
  <box>/script.py or notebook.ipynb        the source as pushed
  <box>/input/<competition>/               the published files (hard links, kagglekit.sandbox.box), read-only
  <box>/input/<kernel-slug>/               the latest output of each kernel in kernel_sources
  <box>/input/<dataset-slug>/              each dataset in dataset_sources
  <box>/input/<model>/<framework>/<variation>/<version>/  each model in model_sources
  <box>/working/                           the outputs (what ListKernelSessionOutput lists)
  <box>/home/, <box>/tmp/                  HOME and TMPDIR; the process starts in working/
  <box>/log.txt, <box>/log.jsonl           the log (kagglekit.sandbox.session_logs)
  <sessions>/cache/                        KAGGLEKIT_CACHE, shared by sessions (same input, same extraction)
The environment holds Kaggle's markers, the two roots, the thread limits (kagglekit.sandbox.machines) and
nothing of the user's (no credentials, no proxies) or of the sandbox's (no state, bundle or solution path).
Unless enable_internet is set, sockets refuse to connect. A script runs as ``python script.py``; a notebook
runs cell by cell in a Jupyter kernel (kagglekit.sandbox.notebook_run) and its executed copy is kept as
working/__notebook__.ipynb, as Kaggle keeps it. Where the machine allows, the process is confined further
(kagglekit.sandbox.box).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from kagglekit.core.kaggle_paths import RUN_TYPE_ENV, moved_roots
from kagglekit.sandbox.box import confined, link_file, link_tree
from kagglekit.sandbox.datasets import mount as mount_datasets
from kagglekit.sandbox.machines import thread_limits
from kagglekit.sandbox.models import mount as mount_models
from kagglekit.sandbox.notebook_run import OFFLINE
from kagglekit.sandbox.session_logs import SessionLog

DEFAULT_TIMEOUT = 12 * 3600
EXECUTED_NOTEBOOK = "__notebook__.ipynb"  # the executed notebook in a notebook version's output, as on Kaggle
NOTEBOOK_RUNNER = Path(__file__).with_name("notebook_run.py")
# Runs the script with sockets that refuse to connect: the kernel has no network.
NO_NETWORK = OFFLINE + """
import runpy, sys
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""
KEPT_VARIABLES = ("PATH", "LANG", "LC_ALL", "TZ", "TF_CPP_MIN_LOG_LEVEL")


class Sessions:
    """The kernel sessions one sandbox is running: "owner/slug/N" (or "rerun/REF") -> its process (thread-safe)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._running: dict[str, subprocess.Popen] = {}
        self._kinds: dict[str, str] = {}  # "GPU", "TPU" or "CPU": Kaggle caps each kind of session separately

    def add(self, key: str, process: subprocess.Popen, kind: str = "CPU") -> None:
        with self._lock:
            self._running[key] = process
            self._kinds[key] = kind

    def remove(self, key: str) -> None:
        with self._lock:
            self._running.pop(key, None)

    def is_running(self, key: str) -> bool:
        with self._lock:
            return key in self._running

    def count(self, user: str, kind: str | None = None) -> int:
        """How many sessions of USER are running (only of KIND, GPU/TPU/CPU, when given)."""
        with self._lock:
            return sum(1 for k, p in self._running.items() if k.startswith(f"{user}/") and p.poll() is None
                       and kind in (None, self._kinds.get(k, "CPU")))

    def stop(self) -> None:
        """Kill every running session, with whatever it started."""
        with self._lock:
            for process in self._running.values():
                _kill(process)


@dataclass(frozen=True)
class Run:
    """What to run in a session's box and how."""

    key: str  # the session's name in Sessions
    box: Path
    source: str  # "script.py" or "notebook.ipynb", in the box
    internet: bool
    timeout: float
    kind: str = "CPU"
    env: dict = field(default_factory=dict)  # markers of this kind of session (a rerun's)


@dataclass(frozen=True)
class Ended:
    """How a session ended: its exit code (None: stopped at its time limit) and Kaggle's failure message."""

    code: int | None
    failure: str  # "" when it succeeded


def session_dir(sandbox, ref: str, number: int) -> Path:
    """The box of version NUMBER of kernel REF (owner/slug)."""
    return sandbox.sessions_dir / "kernels" / ref / str(number)


def rerun_dir(sandbox, ref: int) -> Path:
    """The box of the rerun of submission REF."""
    return sandbox.sessions_dir / "reruns" / str(ref)


def new_box(box: Path) -> Path:
    """BOX made afresh (a box left by a sandbox whose state was deleted goes, read-only folders included)."""
    if box.exists():
        for folder in [box, *(p for p in box.rglob("*") if p.is_dir() and not p.is_symlink())]:
            folder.chmod(stat.S_IRWXU)
        shutil.rmtree(box)
    box.mkdir(parents=True)
    return box


def mount(sandbox, box: Path, competitions: dict[str, dict[str, Path]], version: dict) -> Path:
    """BOX/input/: COMPETITIONS (slug -> name -> file) and VERSION's kernel, dataset and model sources, all
    hard links, every folder read-only."""
    inputs = box / "input"
    for slug, files in competitions.items():
        for name, path in files.items():
            link_file(path, inputs / slug / name)
    for source in version.get("kernels") or []:
        owner, slug = source.split("/")[:2]
        kernel = sandbox.store.data["kernels"][f"{owner}/{slug}"]
        done = [v for v in kernel["versions"] if v["status"] in ("COMPLETE", "ERROR")][-1]
        link_tree(session_dir(sandbox, f"{owner}/{slug}", done["number"]) / "working", inputs / slug)
    mount_datasets(sandbox, version.get("datasets") or [], inputs)
    mount_models(sandbox, version.get("models") or [], inputs)
    inputs.mkdir(exist_ok=True)
    for folder in [inputs, *(p for p in inputs.rglob("*") if p.is_dir())]:
        folder.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    return inputs


def environment(sandbox, run: Run) -> dict:
    """A kernel's environment: Kaggle's markers, the two roots, thread limits; no secrets, proxies or sandbox paths."""
    keep = {k: v for k, v in os.environ.items() if k in KEPT_VARIABLES}
    box = run.box
    return {**keep, "HOME": str(box / "home"), "TMPDIR": str(box / "tmp"), RUN_TYPE_ENV: "Batch",
            **moved_roots(box / "input", box / "working", box / "tmp"), "PYTHONUNBUFFERED": "1",
            "KAGGLEKIT_CACHE": str(sandbox.kernel_cache_dir), **thread_limits(run.kind), **run.env}


def _command(run: Run) -> list[str]:
    source = str(run.box / run.source)
    if run.source.endswith(".ipynb"):
        executed = str(run.box / "working" / EXECUTED_NOTEBOOK)
        return [sys.executable, str(NOTEBOOK_RUNNER), source, executed, *([] if run.internet else ["--offline"])]
    return [sys.executable, source] if run.internet else [sys.executable, "-c", NO_NETWORK, source]


def _hidden(sandbox) -> list[Path]:
    """What a confined session must not see: the sandbox's folders, the bundles, other sessions, /tmp and the
    user's Kaggle credentials; never the Python the session runs on."""
    home = Path(os.path.expanduser("~"))
    found = [sandbox.state_dir, sandbox.cache_dir, sandbox.sessions_dir, Path("/tmp"), home / ".kaggle",
             *(b.folder for b in sandbox.bundles.values())]
    if os.environ.get("KAGGLE_CONFIG_DIR"):
        found.append(Path(os.environ["KAGGLE_CONFIG_DIR"]))
    needed = [Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), NOTEBOOK_RUNNER.resolve().parent]
    return [p.resolve() for p in found if not any(n.is_relative_to(p.resolve()) for n in needed)]


def start(sandbox, run: Run, on_end: Callable[[Ended], None]) -> None:
    """Start RUN's process in its box (inputs already mounted) and watch it in a thread; ON_END(Ended) when it ends."""
    box = run.box
    for folder in ("working", "home", "tmp"):
        (box / folder).mkdir(exist_ok=True)
    sandbox.kernel_cache_dir.mkdir(parents=True, exist_ok=True)
    command = confined(_command(run), box.resolve(), (box / "working").resolve(), _hidden(sandbox),
                       keep=[sandbox.kernel_cache_dir.resolve()], read_only=[(box / "input").resolve()])
    # A session of its own: on a timeout the whole group goes (a notebook's Jupyter kernel too).
    process = subprocess.Popen(command, cwd=box / "working", env=environment(sandbox, run), start_new_session=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    log = SessionLog(box, process)
    sandbox.sessions.add(run.key, process, run.kind)
    threading.Thread(target=_watch, args=(sandbox, run, process, log, on_end), daemon=True,
                     name=f"kernel-{run.key}").start()


def _watch(sandbox, run: Run, process: subprocess.Popen, log: SessionLog, on_end) -> None:
    try:
        code = process.wait(timeout=run.timeout)
        failure = "" if code == 0 else _failure(run.box, code)
    except subprocess.TimeoutExpired:
        _kill(process)
        process.wait()
        code, failure = None, f"the session ran past its limit of {run.timeout:g} s and was stopped"
    finally:
        log.close()
    try:
        on_end(Ended(code, failure))
    finally:
        sandbox.sessions.remove(run.key)


def _kill(process: subprocess.Popen) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            process.kill()


def _failure(box: Path, code: int) -> str:
    """The last error line of the log, as Kaggle's failure message."""
    lines = [line for line in (box / "log.txt").read_text(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if "ERROR" in line or re.match(r"^\w+(Error|Exception)\b", line)]
    return (errors or lines or [f"the script exited with code {code}"])[-1].strip()[:500]


def outputs(box: Path) -> list[str]:
    """The files a session left in its working folder (relative POSIX paths), sorted."""
    working = box / "working"
    return sorted(p.relative_to(working).as_posix() for p in working.rglob("*") if p.is_file()) if working.is_dir() else []
