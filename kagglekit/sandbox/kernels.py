"""Handlers of ``kernels.KernelsApiService``: push a script kernel, run it locally, report its status and outputs.

A pushed version runs in a subprocess laid out as Kaggle mounts a kernel:
  <session>/input/<competition>/   the competition's files as published (links, folders read-only)
  <session>/input/<kernel-slug>/   the latest output of each kernel in kernel_sources
  <session>/input/<dataset-slug>/  each dataset in dataset_sources (kagglekit.sandbox.datasets)
  <session>/input/<model>/<framework>/<variation>/<version>/  each model in model_sources (kagglekit.sandbox.models)
  <session>/working/               the outputs (what ListKernelSessionOutput lists)
  <session>/log.txt                stdout and stderr (the session's log)
  <session>/log.jsonl              the same as Kaggle keeps it: one {stream_name, time, data} event a line
The script finds the two roots through KAGGLEKIT_KAGGLE_INPUT/WORKING, gets a
home folder of its own (no ~/.kaggle, no credentials in its environment),
and, unless enable_internet is set, a Python whose sockets refuse to connect.
Sessions are state (status, failure message) kept in the store, so status and
outputs survive a restart of the sandbox; a session that was running when the
sandbox stopped is reported as failed.

The log is kept and served as Kaggle does (kagglekit.sandbox.session_logs):
ListKernelSessionOutput's ``log`` is a JSON array of events, and
``GET /api/v1/kernels/logs/stream/<owner>/<slug>`` (what the client's
``kernels_logs_stream`` reads; kagglesdk's GetKernelSessionLogsStream names the
same stream) sends them live while the session runs. A push beyond the account's cap of concurrent
batch sessions (per kind: GPU, TPU, CPU) is refused in the SaveKernel answer's
``error`` field with Kaggle's words, "Maximum batch GPU session count of N
reached": the client reports that field as a push error (``kernels_push_cli``),
and users have quoted exactly that line from it, so it is not an HTTP error.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import threading
from email.utils import formatdate
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

from kagglesdk.kernels.types import kernels_api_service as api
from kagglesdk.kernels.types.kernels_enums import KernelExecutionType, KernelWorkerStatus

from kagglekit.core.kaggle_paths import RUN_TYPE_ENV, moved_roots
from kagglekit.kernels.build import ACCELERATORS
from kagglekit.sandbox.blobs import record_id
from kagglekit.sandbox.datasets import attach as attach_datasets, mount as mount_datasets
from kagglekit.sandbox.kernel_records import record_push, source_name
from kagglekit.sandbox.models import attach as attach_models, mount as mount_models
from kagglekit.sandbox.routes import KERNELS, SITE, ApiError, Call, Redirect, route
from kagglekit.sandbox.session_logs import SessionLog, kaggle_log, send_kept_log, send_live_log
from kagglekit.sandbox.store import utc_now

DEFAULT_TIMEOUT = 12 * 3600

# Runs the script with sockets that refuse to connect: the kernel has no network.
NO_NETWORK = """
import runpy, socket, sys
def _offline(*args, **kwargs):
    raise OSError("network access is disabled in this kernel (enable_internet is false)")
socket.socket.connect = socket.socket.connect_ex = _offline
socket.create_connection = _offline
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""

class Sessions:
    """The kernel sessions one sandbox is running: "owner/slug/N" -> its process (thread-safe)."""

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
        """Kill every running session."""
        with self._lock:
            for process in self._running.values():
                if process.poll() is None:
                    process.kill()


def _kernels(data: dict) -> dict:
    return data.setdefault("kernels", {})


def _session_dir(sandbox, ref: str, number: int) -> Path:
    return sandbox.state_dir / "kernels" / ref / str(number)


def _latest(call: Call, owner: str, slug: str, version: str | None = None) -> tuple[str, dict]:
    ref = f"{owner}/{slug}"
    kernel = _kernels(call.sandbox.store.data).get(ref)
    if kernel is None or (owner != call.user and kernel["is_private"]):
        raise ApiError(404 if kernel is None else 403, f"Kernel {ref} not found")
    versions = kernel["versions"]
    if version:
        found = [v for v in versions if str(v["number"]) == str(version).lstrip("v")]
        if not found:
            raise ApiError(404, f"Kernel {ref} has no version {str(version).lstrip('v')}")
        return ref, found[0]
    return ref, versions[-1]


def _refresh(sandbox, ref: str, version: dict) -> dict:
    """The version with its status brought up to date (a session lost with a restart has failed)."""
    key = f"{ref}/{version['number']}"
    if version["status"] in ("QUEUED", "RUNNING") and not sandbox.sessions.is_running(key):
        with sandbox.store.change() as data:
            for v in _kernels(data)[ref]["versions"]:
                if v["number"] == version["number"] and v["status"] in ("QUEUED", "RUNNING"):
                    v.update(status="ERROR", failure="the session was lost when the sandbox stopped")
                    version = dict(v)
    return version


# -- push ----------------------------------------------------------------

@route(KERNELS, "SaveKernel")
def save_kernel(call: Call):
    req = api.ApiSaveKernelRequest.from_dict(call.body)
    owner, _, slug = (req.slug or "").partition("/")
    if not slug or "/" in slug:
        raise ApiError(400, "the sandbox identifies kernels by slug: set id to owner/slug in kernel-metadata.json")
    if owner != call.user:
        raise ApiError(403, f"you ({call.user}) cannot push to {owner}'s kernel {req.slug}")
    if req.language != "python" or req.kernel_type not in ("script", "notebook"):
        raise ApiError(400, "the kagglekit sandbox takes python kernels only (language python, kernel_type script "
                            "or notebook)")
    if req.machine_shape and req.machine_shape not in ACCELERATORS:
        raise ApiError(400, f"Invalid machine shape {req.machine_shape}; valid: {', '.join(ACCELERATORS)}")
    answer = api.ApiSaveKernelResponse()
    answer.invalid_competition_sources = [s for s in req.competition_data_sources if s not in call.sandbox.bundles]
    answer.invalid_kernel_sources = [s for s in req.kernel_data_sources if not _has_output(call, s)]
    datasets, answer.invalid_dataset_sources = attach_datasets(call, list(req.dataset_data_sources))
    models, answer.invalid_model_sources = attach_models(call, list(req.model_data_sources))
    for source in req.competition_data_sources:
        if source in call.sandbox.bundles and not call.sandbox.store.settings(source)["rules_accepted"]:
            raise ApiError(403, f"accept the rules of {source} before using its data in a kernel")
    run = req.kernel_execution_type != KernelExecutionType.QUICK_SAVE
    refused = _check_capacity(call, run, _session_kind(req))
    if refused:
        answer = api.ApiSaveKernelResponse()
        answer.error = refused
        return answer
    ref = f"{owner}/{slug}"
    with call.sandbox.store.change() as data:
        kernel = _kernels(data).setdefault(ref, {"title": req.new_title or slug, "is_private": True, "versions": []})
        kernel["is_private"] = bool(req.is_private)
        number = len(kernel["versions"]) + 1
        version = {"number": number, "status": "QUEUED" if run else "NEW_SCRIPT", "failure": "",
                   "created": utc_now().isoformat(), "internet": bool(req.enable_internet),
                   "machine_shape": req.machine_shape or "", "timeout": req.session_timeout_seconds or DEFAULT_TIMEOUT,
                   "competitions": [s for s in req.competition_data_sources if s in call.sandbox.bundles],
                   "kernels": [s for s in req.kernel_data_sources if _has_output(call, s)]}
        version["kind"] = _session_kind(req)
        version["datasets"] = datasets  # the versions current now: a later dataset version does not change this one
        version["models"] = models  # [owner/model, framework/variation, version]
        version["kernel_type"], version["source"] = req.kernel_type, source_name(req.kernel_type)
        kernel["versions"].append(version)
    session = _session_dir(call.sandbox, ref, number)
    session.mkdir(parents=True, exist_ok=True)
    (session / version["source"]).write_text(req.text or "")  # as pushed: a notebook stays its .ipynb JSON
    record_push(call, ref, number, req, answer)
    if run:
        _start(call, ref, dict(version), session)
    answer.ref = f"/code/{ref}"
    answer.url = f"{SITE}/code/{ref}"
    answer.version_number = number
    answer.kernel_id = record_id(ref)
    return answer


def _has_output(call: Call, source: str) -> bool:
    kernel = _kernels(call.sandbox.store.data).get("/".join(source.split("/")[:2]))
    return bool(kernel) and any(v["status"] in ("COMPLETE", "ERROR") for v in kernel["versions"])


def _session_kind(req) -> str:
    """GPU, TPU or CPU: what the push asks for, by machine shape or else by the enable_* flags."""
    shape = req.machine_shape or ""
    if shape.startswith("Tpu") or (not shape and req.enable_tpu):
        return "TPU"
    return "GPU" if shape.startswith("Nvidia") or (not shape and req.enable_gpu) else "CPU"


def _check_capacity(call: Call, run: bool, kind: str) -> str | None:
    """Kaggle's refusal of a session beyond the account's cap on running batch sessions of KIND, or None."""
    limit = call.sandbox.max_kernel_sessions
    if run and call.sandbox.sessions.count(call.user, kind) >= limit:
        return f"Maximum batch {kind} session count of {limit} reached"
    return None


# -- running a session ---------------------------------------------------------

def _mount(sandbox, version: dict, session: Path) -> Path:
    """input/ with the competitions and earlier outputs as links, folders made read-only."""
    inputs = session / "input"
    for slug in version["competitions"]:
        bundle = sandbox.bundles[slug]
        for name in bundle.files:  # the served files only: the sealed solution never enters a kernel
            target = inputs / slug / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(bundle.folder.resolve() / name)
    for source in version["kernels"]:
        owner, slug = source.split("/")[:2]
        kernel = _kernels(sandbox.store.data)[f"{owner}/{slug}"]
        done = [v for v in kernel["versions"] if v["status"] in ("COMPLETE", "ERROR")][-1]
        shutil.copytree(_session_dir(sandbox, f"{owner}/{slug}", done["number"]) / "working", inputs / slug,
                        copy_function=lambda src, dst: os.symlink(os.path.realpath(src), dst))
    mount_datasets(sandbox, version.get("datasets") or [], inputs)
    mount_models(sandbox, version.get("models") or [], inputs)
    inputs.mkdir(exist_ok=True)
    for folder in [inputs, *(p for p in inputs.rglob("*") if p.is_dir() and not p.is_symlink())]:
        folder.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    return inputs


def _environment(sandbox, session: Path) -> dict:
    """A kernel's environment: Kaggle's markers and the two roots, none of the user's secrets or proxies."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ", "TF_CPP_MIN_LOG_LEVEL")}
    (session / "home").mkdir(exist_ok=True)
    return {**keep, "HOME": str(session / "home"), RUN_TYPE_ENV: "Batch",
            **moved_roots(session / "input", session / "working", session / "tmp"), "PYTHONUNBUFFERED": "1",
            # Extracted archives are shared between sessions: the same input gives the same extraction.
            "KAGGLEKIT_CACHE": str(sandbox.cache_dir / "kernel-cache")}


def _start(call: Call, ref: str, version: dict, session: Path) -> None:
    sandbox = call.sandbox
    _mount(sandbox, version, session)
    (session / "working").mkdir(exist_ok=True)
    script = session / "script.py"
    command = [sys.executable, str(script)] if version["internet"] else [sys.executable, "-c", NO_NETWORK, str(script)]
    process = subprocess.Popen(command, cwd=session / "working", env=_environment(sandbox, session),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    log = SessionLog(session, process)
    key = f"{ref}/{version['number']}"
    sandbox.sessions.add(key, process, version.get("kind", "CPU"))
    _set(sandbox, ref, version["number"], status="RUNNING")
    threading.Thread(target=_watch, args=(sandbox, ref, version, session, process, log), daemon=True,
                     name=f"kernel-{key}").start()


def _watch(sandbox, ref: str, version: dict, session: Path, process: subprocess.Popen, log) -> None:
    try:
        code = process.wait(timeout=version["timeout"])
        failure = "" if code == 0 else _failure(session, code)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        failure = f"the session ran past its limit of {version['timeout']} s and was stopped"
    finally:
        log.close()
    _set(sandbox, ref, version["number"], status="ERROR" if failure else "COMPLETE", failure=failure)
    sandbox.sessions.remove(f"{ref}/{version['number']}")


def _failure(session: Path, code: int) -> str:
    """The last error line of the log, as Kaggle's failure message."""
    lines = [line for line in (session / "log.txt").read_text(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if "ERROR" in line or re.match(r"^\w+(Error|Exception)\b", line)]
    return (errors or lines or [f"the script exited with code {code}"])[-1].strip()[:500]


def _set(sandbox, ref: str, number: int, **changes) -> None:
    with sandbox.store.change() as data:
        for v in _kernels(data)[ref]["versions"]:
            if v["number"] == number:
                v.update(changes)


# -- status and outputs --------------------------------------------------------

@route(KERNELS, "GetKernelSessionStatus")
def get_kernel_session_status(call: Call):
    req = api.ApiGetKernelSessionStatusRequest.from_dict(call.body)
    ref, version = _latest(call, req.user_name, req.kernel_slug, req.version_label or None)
    version = _refresh(call.sandbox, ref, version)
    answer = api.ApiGetKernelSessionStatusResponse()
    answer.status = KernelWorkerStatus[version["status"]]
    if version["failure"]:
        answer.failure_message = version["failure"]
    return answer


def _outputs(session: Path) -> list[str]:
    working = session / "working"
    return sorted(p.relative_to(working).as_posix() for p in working.rglob("*") if p.is_file()) if working.is_dir() else []


@route(KERNELS, "ListKernelSessionOutput")
def list_kernel_session_output(call: Call):
    req = api.ApiListKernelSessionOutputRequest.from_dict(call.body)
    ref, version = _latest(call, req.user_name, req.kernel_slug, req.version_label or None)
    version = _refresh(call.sandbox, ref, version)
    session = _session_dir(call.sandbox, ref, version["number"])
    files = _outputs(session) if version["status"] in ("COMPLETE", "ERROR") else []
    start = int(req.page_token) if (req.page_token or "").isdigit() else 0
    size = min(req.page_size or 20, call.sandbox.max_output_page)
    answer = api.ApiListKernelSessionOutputResponse()
    items = []
    for name in files[start:start + size]:
        item = api.ApiKernelSessionOutputFile()
        item.file_name = name
        item.url = f"{call.base_url}/sandbox/kernels/{ref}/{version['number']}/{quote(name)}"
        items.append(item)
    answer.files = items
    if start + size < len(files):
        answer.next_page_token = str(start + size)
    log = kaggle_log(session)
    if log and start == 0:
        answer.log = log
    return answer


@route(KERNELS, "DownloadKernelOutput")
def download_kernel_output(call: Call):
    req = api.ApiDownloadKernelOutputRequest.from_dict(call.body)
    ref, version = _latest(call, req.owner_slug, req.kernel_slug, str(req.version_number or "") or None)
    if req.file_path not in _outputs(_session_dir(call.sandbox, ref, version["number"])):
        raise ApiError(404, f"Kernel {ref} has no output file '{req.file_path}'")
    return Redirect(f"{call.base_url}/sandbox/kernels/{ref}/{version['number']}/{quote(req.file_path)}")


def send_output(handler, path: str) -> None:
    """GET /sandbox/kernels/<owner>/<slug>/<N>/<file>: one output file (signed storage URLs on Kaggle)."""
    match = re.fullmatch(r"/sandbox/kernels/([\w.-]+)/([\w.-]+)/(\d+)/(.+)", path)
    session = _session_dir(handler.sandbox, f"{match.group(1)}/{match.group(2)}", int(match.group(3))) if match else None
    name = unquote(match.group(4)) if match else ""
    if session is None or name not in _outputs(session):
        return handler._json(404, {"code": 404, "message": f"no such kernel output: {path}"})
    file = session / "working" / name
    size = file.stat().st_size
    handler.send_response(200)
    for header, value in (("Content-Type", "application/octet-stream"), ("Content-Length", str(size)),
                          ("Last-Modified", formatdate(file.stat().st_mtime, usegmt=True))):
        handler.send_header(header, value)
    handler.end_headers()
    cut, stall = handler.sandbox.faults.take_drop(), handler.sandbox.faults.take_stall()
    try:
        sent = handler._copy(file, 0, cut if stall is None else stall)
        if stall is not None and sent < size:
            handler.wfile.flush()
            handler.sandbox.stopping.wait()  # nothing more, and the connection stays open
    except (BrokenPipeError, ConnectionResetError):
        return
    if sent < size:
        handler.close_connection = True  # the client sees a short body: a dropped connection


# -- the session's log (kagglekit.sandbox.session_logs) ------------------------------

def stream_log(handler, path: str) -> None:
    """GET /api/v1/kernels/logs/stream/<owner>/<slug>[?versionLabel=vN]: the log while the session runs
    (server-sent events, chunked, END_OF_LOG last), or the kept log (a JSON array) once it has ended."""
    sandbox = handler.sandbox
    sandbox.stats["GetKernelSessionLogsStream"] += 1
    match = re.fullmatch(r"/api/v1/kernels/logs/stream/([\w.-]+)/([\w.-]+)", path)
    user = handler._user()
    if user is None:
        return handler._json(401, {"code": 401, "message": "Unauthenticated: unknown user name or API key"})
    if match is None:
        return handler._json(404, {"code": 404, "message": f"no such log stream: {path}"})
    label = (parse_qs(urlsplit(handler.path).query).get("versionLabel") or [None])[0]
    try:
        ref, version = _latest(Call(sandbox, user, {}, handler._base_url()), match.group(1), match.group(2), label)
    except ApiError as err:
        return handler._json(err.status, {"code": err.status, "message": err.message})
    version = _refresh(sandbox, ref, version)
    session = _session_dir(sandbox, ref, version["number"])
    key = f"{ref}/{version['number']}"
    if not sandbox.sessions.is_running(key):
        body = (kaggle_log(session) or "[]").encode()
        return send_kept_log(handler, body)
    send_live_log(handler, session, lambda: sandbox.sessions.is_running(key))
