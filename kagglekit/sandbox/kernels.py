"""Handlers of ``kernels.KernelsApiService``: push a script or notebook kernel, run it, report its status and outputs.

A pushed version runs in a session box laid out as Kaggle mounts a kernel (kagglekit.sandbox.sessions owns
the box, its inputs, environment, process and time limit). Sessions are state (status, failure message)
kept in the store, so status and outputs survive a restart of the sandbox; a session that was running when
the sandbox stopped is reported as failed. The machine shapes taken are Kaggle's (kagglekit.sandbox.machines).

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

import re
from email.utils import formatdate
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

from kagglesdk.kernels.types import kernels_api_service as api
from kagglesdk.kernels.types.kernels_enums import KernelExecutionType, KernelWorkerStatus

from kagglekit.sandbox.blobs import record_id
from kagglekit.sandbox.datasets import attach as attach_datasets
from kagglekit.sandbox.kernel_records import record_push, source_name
from kagglekit.sandbox.machines import check_machine_shape, session_kind
from kagglekit.sandbox.models import attach as attach_models
from kagglekit.sandbox.routes import KERNELS, SITE, ApiError, Call, Redirect, route
from kagglekit.sandbox.session_logs import kaggle_log, send_kept_log, send_live_log
from kagglekit.sandbox.sessions import DEFAULT_TIMEOUT, Run, mount, new_box, outputs, session_dir, start
from kagglekit.sandbox.store import utc_now


def _kernels(data: dict) -> dict:
    return data.setdefault("kernels", {})


def latest_version(call: Call, owner: str, slug: str, version: str | None = None) -> tuple[str, dict]:
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


def refresh(sandbox, ref: str, version: dict) -> dict:
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
    refused = check_machine_shape(req.machine_shape)
    if refused:
        raise ApiError(400, refused)
    answer = api.ApiSaveKernelResponse()
    answer.invalid_competition_sources = [s for s in req.competition_data_sources if s not in call.sandbox.bundles]
    answer.invalid_kernel_sources = [s for s in req.kernel_data_sources if not _has_output(call, s)]
    datasets, answer.invalid_dataset_sources = attach_datasets(call, list(req.dataset_data_sources))
    models, answer.invalid_model_sources = attach_models(call, list(req.model_data_sources))
    for source in req.competition_data_sources:
        if source in call.sandbox.bundles and not call.sandbox.store.settings(source)["rules_accepted"]:
            raise ApiError(403, f"accept the rules of {source} before using its data in a kernel")
    run = req.kernel_execution_type != KernelExecutionType.QUICK_SAVE
    refused = _check_capacity(call, run, session_kind(req.machine_shape, req.enable_gpu, req.enable_tpu))
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
        version["kind"] = session_kind(req.machine_shape, req.enable_gpu, req.enable_tpu)
        version["datasets"] = datasets  # the versions current now: a later dataset version does not change this one
        version["models"] = models  # [owner/model, framework/variation, version]
        version["kernel_type"], version["source"] = req.kernel_type, source_name(req.kernel_type)
        kernel["versions"].append(version)
    session = new_box(session_dir(call.sandbox, ref, number))
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


def _check_capacity(call: Call, run: bool, kind: str) -> str | None:
    """Kaggle's refusal of a session beyond the account's cap on running batch sessions of KIND, or None."""
    limit = call.sandbox.max_kernel_sessions
    if run and call.sandbox.sessions.count(call.user, kind) >= limit:
        return f"Maximum batch {kind} session count of {limit} reached"
    return None


# -- running a session ---------------------------------------------------------

def _start(call: Call, ref: str, version: dict, session: Path) -> None:
    """Mount the version's inputs in its box and start its session (kagglekit.sandbox.sessions)."""
    sandbox = call.sandbox
    competitions = {slug: {name: sandbox.bundles[slug].folder / name for name in sandbox.bundles[slug].files}
                    for slug in version["competitions"]}  # the served files only: the sealed solution never enters
    mount(sandbox, session, competitions, version)
    number = version["number"]
    run = Run(key=f"{ref}/{number}", box=session, source=version.get("source", "script.py"),
              internet=version["internet"], timeout=version["timeout"], kind=version.get("kind", "CPU"))
    _set(sandbox, ref, number, status="RUNNING")
    start(sandbox, run, lambda ended: _set(sandbox, ref, number, status="ERROR" if ended.failure else "COMPLETE",
                                           failure=ended.failure))


def _set(sandbox, ref: str, number: int, **changes) -> None:
    with sandbox.store.change() as data:
        for v in _kernels(data)[ref]["versions"]:
            if v["number"] == number:
                v.update(changes)


# -- status and outputs --------------------------------------------------------

@route(KERNELS, "GetKernelSessionStatus")
def get_kernel_session_status(call: Call):
    req = api.ApiGetKernelSessionStatusRequest.from_dict(call.body)
    ref, version = latest_version(call, req.user_name, req.kernel_slug, req.version_label or None)
    version = refresh(call.sandbox, ref, version)
    answer = api.ApiGetKernelSessionStatusResponse()
    answer.status = KernelWorkerStatus[version["status"]]
    if version["failure"]:
        answer.failure_message = version["failure"]
    return answer


@route(KERNELS, "ListKernelSessionOutput")
def list_kernel_session_output(call: Call):
    req = api.ApiListKernelSessionOutputRequest.from_dict(call.body)
    ref, version = latest_version(call, req.user_name, req.kernel_slug, req.version_label or None)
    version = refresh(call.sandbox, ref, version)
    session = session_dir(call.sandbox, ref, version["number"])
    files = outputs(session) if version["status"] in ("COMPLETE", "ERROR") else []
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
    ref, version = latest_version(call, req.owner_slug, req.kernel_slug, str(req.version_number or "") or None)
    if req.file_path not in outputs(session_dir(call.sandbox, ref, version["number"])):
        raise ApiError(404, f"Kernel {ref} has no output file '{req.file_path}'")
    return Redirect(f"{call.base_url}/sandbox/kernels/{ref}/{version['number']}/{quote(req.file_path)}")


def send_output(handler, path: str) -> None:
    """GET /sandbox/kernels/<owner>/<slug>/<N>/<file>: one output file (signed storage URLs on Kaggle)."""
    match = re.fullmatch(r"/sandbox/kernels/([\w.-]+)/([\w.-]+)/(\d+)/(.+)", path)
    session = session_dir(handler.sandbox, f"{match.group(1)}/{match.group(2)}", int(match.group(3))) if match else None
    name = unquote(match.group(4)) if match else ""
    if session is None or name not in outputs(session):
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
        ref, version = latest_version(Call(sandbox, user, {}, handler._base_url()), match.group(1), match.group(2), label)
    except ApiError as err:
        return handler._json(err.status, {"code": err.status, "message": err.message})
    version = refresh(sandbox, ref, version)
    session = session_dir(sandbox, ref, version["number"])
    key = f"{ref}/{version['number']}"
    if not sandbox.sessions.is_running(key):
        body = (kaggle_log(session) or "[]").encode()
        return send_kept_log(handler, body)
    send_live_log(handler, session, lambda: sandbox.sessions.is_running(key))
