"""Kernels on Kaggle: push a built folder, follow its session, bring its outputs home as a run folder.

Everything goes through the kaggle client's KaggleApi (``remote.connect``, ``remote.call``),
so the same code talks to Kaggle and to ``kagglekit sandbox``. What kagglekit
adds: a record of what was pushed (kernels/<name>/pushed.json, so status and
output know which kernels to follow), a fan-out that keeps under a cap of
concurrent sessions, a wait that polls (the client has none), and outputs
made into a local run folder (run.json pointed at the local definition and
data, so predict, validate and submit work on it, and noting the kernel, its
version and accelerator), the session's log as lines to read (followed live
in kernel_logs), and a session timeout sent with the push when a budget is
set. pushed.json records every version pushed from a folder, with
its accelerator and timeout; Kaggle has no call that lists a kernel's versions.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

from kagglekit.core.atomic import atomic_folder, write_json, write_text
from kagglekit.core.durations import format_duration
from kagglekit.core.errors import KagglekitError
from kagglekit.core.refs import parse_ref
from kagglekit.kaggle.remote import Hints, call, connect, download_timeout
from kagglekit.kernels.accelerators import session_limit
from kagglekit.kernels.build import build_kernel, read_kernel_folder
from kagglekit.kernels.fanout import fold_specs
from kagglekit.kernels.spec import KernelSpec
from kagglekit.runs.folder import RunFolder, keep_local_records, localize

log = logging.getLogger("kagglekit")
T = TypeVar("T")

PUSHED_FILE = "pushed.json"
FINISHED = ("COMPLETE", "ERROR", "CANCEL_ACKNOWLEDGED")
# How Kaggle words a push refused because the account's batch sessions are all in use (in SaveKernel's `error`).
SESSION_CAP = re.compile(r"Maximum batch (\w+) session count of (\d+) reached", re.IGNORECASE)


@dataclass(frozen=True)
class Pushed:
    """A kernel version Kaggle accepted."""

    id: str
    version: int
    url: str
    folder: Path
    accelerator: str = "CPU"  # the machine shape pushed, e.g. NvidiaTeslaT4
    timeout: int | None = None  # the session timeout sent with the push, in seconds


class SessionCapReached(KagglekitError):
    """Kaggle refused a push because the account's batch sessions of that kind are all running."""


@dataclass(frozen=True)
class SessionStatus:
    """Where one kernel's latest session stands."""

    id: str
    status: str  # QUEUED, RUNNING, COMPLETE, ERROR, ...
    failure: str = ""
    version: int | None = None  # the version asked about; None: the latest

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


def poll_seconds() -> float:
    """Seconds between status checks (KAGGLEKIT_KERNEL_POLL, default 30)."""
    return float(os.environ.get("KAGGLEKIT_KERNEL_POLL", "30"))


def _kernel_call(fn: Callable[[], T], what: str) -> T:
    """FN() through remote.call, with what a refusal means for a kernel (credentials, owner, session cap)."""
    def refused(status: int, hint: str):
        return lambda why: f"Kaggle refused to {what} ({status}: {why}){'' if 'rules' in why else hint}"

    owner_hint = "; check your Kaggle credentials and the kernel's owner (--owner)"
    return call(fn, what, hints=Hints(by_status={
        403: refused(403, owner_hint),
        404: lambda why: (f"Kaggle has no such kernel or version to {what} (404: {why}); check the kernel's "
                          "OWNER/SLUG (and --version), and that it was pushed ('kagglekit kernel push')"),
        429: refused(429, "; wait for a session to finish or lower --max-concurrent"),
    }))


def kernel_owner(owner: str | None) -> str:
    """OWNER, or the user name of the Kaggle credentials."""
    if owner:
        return owner
    name = connect().get_config_value("username")
    if not name:
        raise KagglekitError("cannot tell your Kaggle user name from the credentials; pass --owner USER")
    return name


def resolve_predict_source(source: str) -> tuple[str, str]:
    """(kind, OWNER/SLUG) of an inference kernel's source of folds: "kernel:OWNER/SLUG", "dataset:OWNER/SLUG",
    or OWNER/SLUG, which is looked up on Kaggle (a kernel first, then a dataset)."""
    import requests

    from kagglekit.kaggle.remote import status_of

    kind, _, ref = source.rpartition(":")
    if kind not in ("", "kernel", "dataset"):
        raise KagglekitError(f"--predict-from '{source}' must be OWNER/SLUG of a kernel or a dataset "
                             "(kernel:OWNER/SLUG or dataset:OWNER/SLUG to say which)")
    parse_ref(ref, None, "--predict-from", "kaggler/digits-models (kernel:OWNER/SLUG or dataset:OWNER/SLUG "
              "to say which)")
    if kind:
        return kind, ref
    api = connect()

    def exists(lookup) -> bool:
        try:
            lookup(ref)
            return True
        except requests.HTTPError as exc:
            if status_of(exc) in (403, 404):
                return False
            raise

    for kind, lookup in (("kernel", api.kernels_status), ("dataset", api.dataset_status)):
        if _kernel_call(lambda: exists(lookup), f"look up {ref}"):
            return kind, ref
    raise KagglekitError(f"Kaggle has no kernel or dataset {ref} that you can use; check --predict-from "
                         "(a kernel must have run, a dataset comes from 'kagglekit upload-run')")


# -- push ------------------------------------------------------------------------

def session_timeout(record: dict) -> int | None:
    """The session timeout to push with (seconds): the build's training budget plus the time kept for prediction,
    within the platform's session limit; None without a budget (Kaggle's own limit applies)."""
    from kagglekit.kernels.entry import PREDICT_RESERVE

    budget = (record.get("config") or {}).get("budget")
    if not budget:
        return None
    return int(min(float(budget) + PREDICT_RESERVE, session_limit((record.get("spec") or {}).get("gpu"))))


def push_folder(folder: Path, api=None) -> Pushed:
    """Send a built kernel folder (the client reads and checks its metadata) and start a session."""
    meta, record = read_kernel_folder(folder)
    api = api or connect()
    timeout = session_timeout(record)
    answer = _kernel_call(lambda: api.kernels_push(str(folder), timeout=str(timeout) if timeout else None),
                          f"push {meta['id']}")
    if answer.error and SESSION_CAP.search(answer.error):
        raise SessionCapReached(f"Kaggle did not accept {meta['id']}: {answer.error}; wait for a session to finish "
                                "('kagglekit kernel status --wait') and push again")
    if answer.error:
        raise KagglekitError(f"Kaggle did not accept {meta['id']}: {answer.error}")
    bad = (answer.invalid_competition_sources or []) + (answer.invalid_dataset_sources or []) + \
        (answer.invalid_kernel_sources or []) + (answer.invalid_model_sources or [])
    if bad:
        log.warning("Kaggle did not attach these inputs to %s: %s", meta["id"], ", ".join(bad))
    return Pushed(meta["id"], answer.version_number, answer.url, Path(folder), meta.get("machine_shape") or "CPU",
                  timeout)


def _record(folder: Path, pushed: list[Pushed], fan_out: bool) -> None:
    now = time.strftime("%Y-%m-%d %H:%M:%S")
    history = _history(Path(folder))
    known = {(h["id"], h["version"]) for h in history}
    history += [{"id": p.id, "version": p.version, "accelerator": p.accelerator, "timeout": p.timeout, "pushed": now}
                for p in pushed if (p.id, p.version) not in known]
    record = {"fan_out": fan_out, "kernels": [{"id": p.id, "version": p.version, "url": p.url, "folder": str(p.folder),
                                               "accelerator": p.accelerator, "timeout": p.timeout}
                                              for p in pushed], "pushed": now, "history": history}
    write_json(Path(folder) / PUSHED_FILE, record)


def _history(folder: Path) -> list[dict]:
    """Every version pushed from FOLDER so far (records written before the history was kept: their kernels)."""
    try:
        earlier = json.loads((folder / PUSHED_FILE).read_text())
    except (OSError, ValueError):
        return []
    if not isinstance(earlier, dict):
        return []
    found = earlier.get("history") or [{k: v for k, v in entry.items() if k in ("id", "version", "accelerator")}
                                       for entry in earlier.get("kernels") or [] if isinstance(entry, dict)]
    return [h for h in found if isinstance(h, dict) and "id" in h and "version" in h]


def push_kernel(folder: Path) -> list[Pushed]:
    """Push one kernel folder and remember it for status and output."""
    pushed = [push_folder(folder)]
    _record(folder, pushed, fan_out=False)
    return pushed


def push_folds(spec: KernelSpec, folder: Path, max_concurrent: int, out_root: Path,
               on_push: Callable[[Pushed], None] = lambda p: None,
               on_wait: Callable[[str], None] = lambda line: None, timeout: float = 13 * 3600) -> list[Pushed]:
    """One kernel per fold, never more than MAX_CONCURRENT sessions running at once; returns when all are pushed.

    A push Kaggle refuses because the account's batch sessions are all in use is not a failure: ON_WAIT is
    told so in one line, and the fold is pushed again once one of this fan-out's sessions has finished.
    """
    if max_concurrent < 1:
        raise KagglekitError("--max-concurrent must be at least 1 (Kaggle allows a few batch sessions per account)")
    api = connect()
    folders = [build_kernel(s, out_root) for s in fold_specs(spec)]
    pushed: list[Pushed] = []
    deadline = time.monotonic() + timeout
    for fold_folder in folders:
        while _running(pushed, api) >= max_concurrent:
            time.sleep(poll_seconds())
        refusals = 0
        while True:
            try:
                pushed.append(push_folder(fold_folder, api))
                break
            except SessionCapReached as refused:
                cap = SESSION_CAP.search(str(refused))
                if not refusals:  # one line per fold, however long the wait
                    on_wait(f"{fold_folder.name}: Kaggle's cap of {cap.group(2)} batch {cap.group(1)} sessions is "
                            "reached; waiting for one of ours to finish, then pushing it again")
                refusals += 1
                _wait_for_a_slot(pushed, api, deadline)
        on_push(pushed[-1])
        _record(folder, pushed, fan_out=True)
    return pushed


def _running(pushed: list[Pushed], api) -> int:
    """How many of the PUSHED sessions have not finished."""
    found = statuses([p.id for p in pushed], api, {p.id: p.version for p in pushed})
    return sum(not s.finished for s in found)


def _wait_for_a_slot(pushed: list[Pushed], api, deadline: float) -> None:
    """Until one of PUSHED's running sessions has finished (or a poll's time, when the cap is held by
    sessions that are not ours)."""
    before = _running(pushed, api)
    while True:
        if time.monotonic() > deadline:
            raise KagglekitError("Kaggle's cap on batch sessions stayed reached for too long; push the remaining "
                                 "folds later with 'kagglekit kernel push --folds-parallel'")
        time.sleep(poll_seconds())
        if before == 0 or _running(pushed, api) < before:
            return


def pushed_kernels(folder: Path) -> list[str]:
    """The kernel ids `kernel push` sent from FOLDER."""
    return [k.id for k in followed_kernels(folder)]


@dataclass(frozen=True)
class Followed:
    """A kernel that `kernel push` sent from a folder, and every version of it pushed from there."""

    id: str
    version: int | None  # the last version pushed
    versions: dict  # version number -> {"accelerator": ..., "timeout": ..., "pushed": ...}

    def accelerator(self, version: int | None = None) -> str | None:
        """The machine shape VERSION (default: the last) was pushed with, if it was pushed from here."""
        return (self.versions.get(version or self.version) or {}).get("accelerator")


def followed_kernels(folder: Path) -> list[Followed]:
    """The kernels `kernel push` sent from FOLDER (the latest push: one kernel, or one per fold), with their versions."""
    path = Path(folder) / PUSHED_FILE
    if not path.is_file():
        raise KagglekitError(f"nothing was pushed from {folder}; run 'kagglekit kernel push' first")
    try:
        record = json.loads(path.read_text())
        kernels = [(k["id"], k.get("version"), k.get("accelerator")) for k in record["kernels"]]
    except (ValueError, KeyError, TypeError):
        raise KagglekitError(f"{path} is damaged; push the kernel again with 'kagglekit kernel push'") from None
    history = _history(Path(folder))
    found = []
    for kernel_id, version, accelerator in kernels:
        versions = {h["version"]: h for h in history if h["id"] == kernel_id}
        versions.setdefault(version, {"accelerator": accelerator})
        found.append(Followed(kernel_id, version, versions))
    return found


def pushed_version(kernel_id: str, root: Path | None = None) -> int:
    """The version number the latest `kernel push` of KERNEL_ID recorded (Kaggle's API cannot list versions)."""
    from kagglekit.kernels.build import KERNELS_DIR

    found = []  # (when pushed, version)
    for path in Path(root or KERNELS_DIR).glob(f"*/{PUSHED_FILE}"):
        try:
            record = json.loads(path.read_text())
            found += [(record.get("pushed", ""), int(k["version"])) for k in record["kernels"] if k["id"] == kernel_id]
        except (ValueError, KeyError, TypeError):
            continue  # a damaged record of another kernel does not stop this one
    if not found:
        raise KagglekitError(f"no push of {kernel_id} is recorded under {root or KERNELS_DIR}/; pass --version N "
                             "(the number 'kernel push' printed)")
    return max(found)[1]


# -- status ----------------------------------------------------------------------

def versioned(kernel_id: str, version: int | None) -> str:
    """owner/slug/N, the client's way of naming one version (owner/slug alone: the latest)."""
    return f"{kernel_id}/{version}" if version else kernel_id


def statuses(ids: list[str], api=None, versions: dict[str, int | None] | None = None) -> list[SessionStatus]:
    """The session status of each kernel: of the version VERSIONS names for it, else of its latest."""
    if not ids:
        return []
    api = api or connect()
    found = []
    for kernel_id in ids:
        version = (versions or {}).get(kernel_id)
        ref = versioned(kernel_id, version)
        answer = _kernel_call(lambda r=ref: api.kernels_status(r), f"get the status of {ref}")
        status = getattr(answer.status, "name", str(answer.status))
        found.append(SessionStatus(kernel_id, status, answer.failure_message or "", version))
    return found


def wait_for(ids: list[str], timeout: float = 13 * 3600,
             on_change: Callable[[SessionStatus], None] = lambda s: None,
             versions: dict[str, int | None] | None = None) -> list[SessionStatus]:
    """Poll until every kernel's session has finished (Kaggle's client has no wait)."""
    api, seen, deadline = connect(), {}, time.monotonic() + timeout
    while True:
        now = statuses(ids, api, versions)
        for s in now:
            if seen.get(s.id) != s.status:
                seen[s.id] = s.status
                on_change(s)
        if all(s.finished for s in now):
            return now
        if time.monotonic() > deadline:
            raise KagglekitError(f"the kernels were still running after {format_duration(timeout)}; run 'kagglekit kernel status --wait' again")
        time.sleep(poll_seconds())


# -- output ----------------------------------------------------------------------

def download_output(kernel_id: str, run_dir: Path, competition_file: str, version: int | None = None,
                    pattern: str | None = None, accelerator: str | None = None) -> list[Path]:
    """The output files of the kernel's latest version (or VERSION) into RUN_DIR, made a local run folder.

    The files go to a sibling folder first, each checked against its announced size by the client, and
    replace RUN_DIR only once all of them arrived: an interrupted download leaves an earlier copy as it was.
    PATTERN (a glob) keeps only the files it matches, which then join RUN_DIR's earlier files.
    """
    api = connect()
    run = RunFolder(run_dir)
    what = f"download the output of {kernel_id}" + (f" (version {version})" if version else "")
    with atomic_folder(run.path) as partial:
        if pattern and run.path.is_dir():  # only some files come: the others stay as they were
            shutil.copytree(run.path, partial, dirs_exist_ok=True)
        files = _kernel_call(lambda: _download_outputs(api, kernel_id, version, pattern, partial), what)
        if pattern:
            if not files:
                raise KagglekitError(f"no output file of {kernel_id} matches '{pattern}'; "
                                     "drop --pattern to see them all")
            return [run.path / f.relative_to(partial) for f in files]
        if not RunFolder(partial).is_run():
            logs = [f for f in files if f.suffix == ".log"]
            kept = run.path.parent / logs[0].name if logs else None
            if kept:  # the session's log is what tells why; an earlier copy of the run stays as it was
                write_text(kept, logs[0].read_text(errors="replace"))
            raise KagglekitError(f"the output of {kernel_id} holds no run folder (no settings); "
                                 f"see {'its log in ' + str(kept) if kept else 'its log on Kaggle'}")
        keep_local_records(run, RunFolder(partial))
        localize_run(partial, competition_file, kernel_id, version, accelerator)
    return [run.path / f.relative_to(partial) for f in files]


def _download_outputs(api, kernel_id: str, version: int | None, pattern: str | None, target: Path) -> list[Path]:
    """One try: every page of the output listing, each matching file downloaded (no retries of the client's own)."""
    from kagglesdk.kernels.types.kernels_api_service import ApiListKernelSessionOutputRequest

    ref = parse_ref(kernel_id, None, "kernel", "kaggler/digits-train")
    owner, slug = ref.owner, ref.slug
    files, token, log_text = [], None, None
    with api.build_kaggle_client() as kaggle:
        while True:
            request = ApiListKernelSessionOutputRequest()
            request.user_name, request.kernel_slug = owner, slug
            if version:
                request.version_label = f"v{version}"
            if token:
                request.page_token = token
            answer = kaggle.kernels.kernels_api_client.list_kernel_session_output(request)
            log_text = log_text or answer.log
            for item in answer.files or []:
                if not pattern or fnmatch.fnmatch(item.file_name, pattern):
                    files.append(_download_one(api, item, target))
            token = answer.next_page_token
            if not token:
                break
    if log_text and not pattern:
        files.append(write_text(target / f"{slug}.log", readable_log(log_text)))
    return files


def _download_one(api, item, target: Path) -> Path:
    import requests

    out = target / item.file_name
    if not out.resolve().is_relative_to(target.resolve()):  # the name comes from the kernel's own listing
        raise KagglekitError(f"refusing the output file '{item.file_name}': it would land outside {target}")
    seconds = download_timeout()
    # A signed URL, possibly not Kaggle's: fetched without the client's session, which carries the credentials.
    response = requests.get(item.url, stream=True, timeout=(seconds, seconds))
    response.raise_for_status()  # an expired URL answers with an error page, not the file
    # max_retries=0: retries are remote.call's; the client still checks the size against Content-Length.
    api.download_file(response, str(out), None, quiet=True, resume=False, max_retries=0, timeout=seconds)
    return out


def localize_run(run_dir: Path, competition_file: str, kernel_id: str, version: int | None = None,
                 accelerator: str | None = None) -> None:
    """Point run.json at the local competition definition and data folder instead of /kaggle/input,
    and note where the run came from: the kernel, its version, its accelerator."""
    from kagglekit.competition.definition import load_competition_file
    from kagglekit.core.config import default_data_dir

    comp = load_competition_file(Path(competition_file))
    localize(RunFolder(run_dir), Path(competition_file), comp.slug, default_data_dir(comp.slug), kernel=kernel_id,
             kernel_version=version, accelerator=accelerator)


def readable_log(text: str) -> str:
    """A session's log as lines to read: Kaggle keeps it as a JSON array of {stream_name, time, data} events."""
    try:
        events = json.loads(text)
    except ValueError:
        return text  # already plain text
    if not isinstance(events, list):
        return text
    return "".join(str(e.get("data") or "") for e in events if isinstance(e, dict))
