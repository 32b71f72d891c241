"""Kernels on Kaggle: push a built folder, follow its session, bring its outputs home as a run folder.

Everything goes through the kaggle client's KaggleApi (``kaggle_io.connect``),
so the same code talks to Kaggle and to ``kagglekit sandbox``. What kagglekit
adds: a record of what was pushed (kernels/<name>/pushed.json, so status and
output know which kernels to follow), a fan-out that keeps under a cap of
concurrent sessions, a wait that polls (the client has none), and outputs
made into a local run folder (run.json pointed at the local definition and
data, so predict, validate and submit work on it).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

from kagglekit.errors import KagglekitError
from kagglekit.kernel import KernelSpec, build_kernel, fold_specs, read_kernel_folder
from kagglekit.atomic import write_json
from kagglekit.run_folder import RunFolder, localize

log = logging.getLogger("kagglekit")
T = TypeVar("T")

PUSHED_FILE = "pushed.json"
FINISHED = ("COMPLETE", "ERROR", "CANCEL_ACKNOWLEDGED")


@dataclass(frozen=True)
class Pushed:
    """A kernel version Kaggle accepted."""

    id: str
    version: int
    url: str
    folder: Path


@dataclass(frozen=True)
class SessionStatus:
    """Where one kernel's latest session stands."""

    id: str
    status: str  # QUEUED, RUNNING, COMPLETE, ERROR, ...
    failure: str = ""

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


def poll_seconds() -> float:
    """Seconds between status checks (KAGGLEKIT_KERNEL_POLL, default 30)."""
    return float(os.environ.get("KAGGLEKIT_KERNEL_POLL", "30"))


def _kernel_call(fn: Callable[[], T], what: str, attempts: int = 4) -> T:
    """FN() with the client's printing kept quiet, transient failures retried, failures explained."""
    import requests

    from kagglekit.kaggle_io import _is_cut_off, _is_transient, _reason

    def pause(attempt: int) -> None:
        time.sleep(min(2 ** attempt, 30) * float(os.environ.get("KAGGLEKIT_HTTP_BACKOFF", "1")))

    for attempt in range(1, attempts + 1):
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                return fn()
        except ValueError as exc:  # the client's own checks of the metadata or of a kernel name
            if _is_cut_off(exc) and attempt < attempts:  # a download that broke partway: fetch it again
                pause(attempt)
                continue
            if _is_cut_off(exc):
                raise KagglekitError(f"could not {what}: the download broke partway {attempts} times; "
                                     "check the network and run the command again") from None
            raise KagglekitError(f"the kaggle client refused to {what}: {exc}") from None
        except Exception as exc:
            status = getattr(getattr(exc, "response", None), "status_code", None)
            if _is_transient(exc) and status != 429 and attempt < attempts:
                pause(attempt)
                continue
            if isinstance(exc, requests.HTTPError) and status:
                hint = "; wait for a session to finish or lower --max-concurrent" if status == 429 else ""
                if status in (401, 403) and "rules" not in _reason(exc):
                    hint = "; check your Kaggle credentials and the kernel's owner (--owner)"
                raise KagglekitError(f"Kaggle refused to {what} ({status}: {_reason(exc)}){hint}") from None
            if isinstance(exc, requests.RequestException):
                raise KagglekitError(f"could not reach Kaggle to {what} ({_reason(exc)}); check the network "
                                     "(or that 'kagglekit sandbox' is running and its environment is exported)") from None
            raise
    raise AssertionError("unreachable")


def kernel_owner(owner: str | None) -> str:
    """OWNER, or the user name of the Kaggle credentials."""
    if owner:
        return owner
    from kagglekit.kaggle_io import connect

    name = connect().get_config_value("username")
    if not name:
        raise KagglekitError("cannot tell your Kaggle user name from the credentials; pass --owner USER")
    return name


# -- push ------------------------------------------------------------------------

def push_folder(folder: Path, api=None) -> Pushed:
    """Send a built kernel folder (the client reads and checks its metadata) and start a session."""
    from kagglekit.kaggle_io import connect

    meta, _ = read_kernel_folder(folder)
    api = api or connect()
    answer = _kernel_call(lambda: api.kernels_push(str(folder)), f"push {meta['id']}")
    if answer.error:
        raise KagglekitError(f"Kaggle did not accept {meta['id']}: {answer.error}")
    bad = (answer.invalid_competition_sources or []) + (answer.invalid_dataset_sources or []) + \
        (answer.invalid_kernel_sources or []) + (answer.invalid_model_sources or [])
    if bad:
        log.warning("Kaggle did not attach these inputs to %s: %s", meta["id"], ", ".join(bad))
    return Pushed(meta["id"], answer.version_number, answer.url, Path(folder))


def _record(folder: Path, pushed: list[Pushed], fan_out: bool) -> None:
    record = {"fan_out": fan_out, "kernels": [{"id": p.id, "version": p.version, "url": p.url, "folder": str(p.folder)}
                                              for p in pushed], "pushed": time.strftime("%Y-%m-%d %H:%M:%S")}
    write_json(Path(folder) / PUSHED_FILE, record)


def push_kernel(folder: Path) -> list[Pushed]:
    """Push one kernel folder and remember it for status and output."""
    pushed = [push_folder(folder)]
    _record(folder, pushed, fan_out=False)
    return pushed


def push_folds(spec: KernelSpec, folder: Path, max_concurrent: int, out_root: Path,
               on_push: Callable[[Pushed], None] = lambda p: None) -> list[Pushed]:
    """One kernel per fold, never more than MAX_CONCURRENT sessions running at once; returns when all are pushed."""
    from kagglekit.kaggle_io import connect

    if max_concurrent < 1:
        raise KagglekitError("--max-concurrent must be at least 1 (Kaggle allows a few batch sessions per account)")
    api = connect()
    folders = [build_kernel(s, out_root) for s in fold_specs(spec)]
    pushed: list[Pushed] = []
    for fold_folder in folders:
        while sum(not s.finished for s in statuses([p.id for p in pushed], api)) >= max_concurrent:
            time.sleep(poll_seconds())
        pushed.append(push_folder(fold_folder, api))
        on_push(pushed[-1])
        _record(folder, pushed, fan_out=True)
    return pushed


def pushed_kernels(folder: Path) -> list[str]:
    """The kernel ids `kernel push` sent from FOLDER."""
    path = Path(folder) / PUSHED_FILE
    if not path.is_file():
        raise KagglekitError(f"nothing was pushed from {folder}; run 'kagglekit kernel push' first")
    try:
        return [k["id"] for k in json.loads(path.read_text())["kernels"]]
    except (ValueError, KeyError, TypeError):
        raise KagglekitError(f"{path} is damaged; push the kernel again with 'kagglekit kernel push'") from None


# -- status ----------------------------------------------------------------------

def statuses(ids: list[str], api=None) -> list[SessionStatus]:
    """The latest session status of each kernel."""
    from kagglekit.kaggle_io import connect

    if not ids:
        return []
    api = api or connect()
    found = []
    for kernel_id in ids:
        answer = _kernel_call(lambda k=kernel_id: api.kernels_status(k), f"get the status of {kernel_id}")
        status = getattr(answer.status, "name", str(answer.status))
        found.append(SessionStatus(kernel_id, status, answer.failure_message or ""))
    return found


def wait_for(ids: list[str], timeout: float = 13 * 3600,
             on_change: Callable[[SessionStatus], None] = lambda s: None) -> list[SessionStatus]:
    """Poll until every kernel's session has finished (Kaggle's client has no wait)."""
    from kagglekit.kaggle_io import connect

    api, seen, deadline = connect(), {}, time.monotonic() + timeout
    while True:
        now = statuses(ids, api)
        for s in now:
            if seen.get(s.id) != s.status:
                seen[s.id] = s.status
                on_change(s)
        if all(s.finished for s in now):
            return now
        if time.monotonic() > deadline:
            raise KagglekitError(f"the kernels were still running after {timeout:.0f} s; run 'kagglekit kernel status --wait' again")
        time.sleep(poll_seconds())


# -- output ----------------------------------------------------------------------

def download_output(kernel_id: str, run_dir: Path, competition_file: str) -> list[Path]:
    """Every output file of the kernel's latest version (all pages) into RUN_DIR, made a local run folder."""
    from kagglekit.kaggle_io import connect

    api = connect()
    run = RunFolder(run_dir)
    run.path.mkdir(parents=True, exist_ok=True)
    files, _ = _kernel_call(lambda: api.kernels_output(kernel_id, str(run.path), force=True, quiet=True),
                            f"download the output of {kernel_id}")
    if not run.is_run():
        raise KagglekitError(f"the output of {kernel_id} holds no run folder (no settings); see its log in {run.path}")
    localize_run(run.path, competition_file, kernel_id)
    return [Path(f) for f in files]


def localize_run(run_dir: Path, competition_file: str, kernel_id: str) -> None:
    """Point run.json at the local competition definition and data folder instead of /kaggle/input."""
    from kagglekit.competition import load_competition_file
    from kagglekit.config import default_data_dir

    comp = load_competition_file(Path(competition_file))
    localize(RunFolder(run_dir), Path(competition_file), comp.slug, default_data_dir(comp.slug), kernel=kernel_id)
