"""The sandbox's HTTP server: Kaggle's API for the stock kaggle client, served from local folders.

Three kinds of requests arrive:
- ``POST /api/v1/{service}/{Method}``: API calls, dispatched through ROUTES;
- ``GET /api/v1/kernels/logs/stream/{owner}/{slug}``: a kernel session's log,
  live while it runs (the one API call the client sends as a GET);
- ``GET /sandbox/files/...`` and ``PUT /sandbox/uploads/{token}``: the byte
  transfers that API answers point the client to (Kaggle uses signed storage
  URLs for these, so they carry no credentials either);
- ``/sandbox/faults``, ``/sandbox/competitions/{slug}``, ``/sandbox/status``:
  the sandbox's own control endpoints, for tests and rehearsals.

The kaggle client can only be pointed at ``http://localhost`` (port 80); on
any other port the client reaches the sandbox as an HTTP proxy (the
``http_proxy`` variable that ``client_env`` returns), so requests arrive in
absolute form and are answered here only for localhost.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import shlex
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from kagglekit.core.atomic import write_text
from kagglekit.core.errors import KagglekitError
from kagglekit.sandbox.bundles import Bundle, bundle_zip, discover, file_zip
from kagglekit.sandbox.faults import Faults
from kagglekit.sandbox.reruns import recover as recover_reruns
from kagglekit.sandbox.routes import DOWNLOADS, ApiError, Call, Redirect, load_routes, not_served
from kagglekit.sandbox.sessions import Sessions
from kagglekit.sandbox.store import Store
from kagglekit.sandbox.teams import join_team

log = logging.getLogger("kagglekit.sandbox")
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
CHUNK = 64 * 1024


class _Server(ThreadingHTTPServer):
    """The HTTP server, quiet about clients that leave before their answer is written."""

    def handle_error(self, request, client_address):
        import sys

        # A client that timed out (a slow or hang fault) or was killed: nothing the sandbox did wrong.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


def check_port(port: int) -> None:
    """Refuse a PORT no socket can listen on."""
    if not 0 <= port <= 65535:
        raise KagglekitError(f"--port {port} is not a port; pick one from 1 to 65535 (0 picks a free one)")


class Sandbox:
    """A Kaggle-compatible server for the competitions in DATA_DIRS plus the built-in demo."""

    def __init__(self, data_dirs=(), state_dir: Path = Path(".sandbox"), host: str = "127.0.0.1", port: int = 7777,
                 cache_dir: Path | None = None, daily_limit: int = 5, scoring_delay: float = 1.0, with_demo: bool = True,
                 max_kernel_sessions: int = 2, max_output_page: int = 200, metric: str | None = None,
                 sessions_dir: Path | None = None, kernel_cache_dir: Path | None = None):
        check_port(port)  # before anything is built on disk
        # Absolute: kernel sessions run in folders of their own and get these paths handed to them.
        self.state_dir = Path(state_dir).resolve()
        # Kernel session boxes and the cache they share sit beside the state folder, never inside it: what a
        # kernel can reach must not lead to state.json or a solution (kagglekit.sandbox.sessions).
        self.sessions_dir = (Path(sessions_dir) if sessions_dir else
                             self.state_dir.with_name(f"{self.state_dir.name}-sessions")).resolve()
        self.kernel_cache_dir = Path(kernel_cache_dir).resolve() if kernel_cache_dir else self.sessions_dir / "cache"
        for name, folder in (("sessions", self.sessions_dir), ("kernel cache", self.kernel_cache_dir)):
            if folder.is_relative_to(self.state_dir):
                raise KagglekitError(f"the sandbox's {name} folder {folder} is inside its state folder "
                                     f"{self.state_dir}, where kernels could read the state; put it beside it")
        self.store = Store(self.state_dir)
        recover_reruns(self.store)  # reruns pending when the sandbox last stopped have lost their sessions
        self.cache_dir = Path(cache_dir).resolve() if cache_dir else self.state_dir / "cache"
        # METRIC: Kaggle's record's metric of the folders served with an inferred definition (--metric).
        self.bundles: dict[str, Bundle] = discover([Path(d) for d in data_dirs], self.cache_dir, with_demo, metric)
        for bundle in self.bundles.values():
            bundle_zip(bundle, self.cache_dir)  # built now, so that no client waits on it
        self.host, self.daily_limit, self.scoring_delay = host, daily_limit, scoring_delay
        # Kaggle caps the batch sessions an account runs at once, and pages its output listings.
        self.max_kernel_sessions, self.max_output_page = max_kernel_sessions, max_output_page
        self.zip_files_over: int | None = None  # bytes: a single-file download larger than this comes as NAME.zip
        self.sessions = Sessions()
        self.faults = Faults()
        self.stopping = threading.Event()  # wakes handlers held by a hang or stall fault when the sandbox stops
        self.stats: Counter = Counter()
        self.range_starts: list[int] = []  # first byte of every ranged download (resumes)
        self._requested_port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        load_routes()

    # -- lifecycle -------------------------------------------------------
    def bind(self) -> "Sandbox":
        """Open the listening socket (port 0 picks a free one)."""
        if self._server is None:
            try:
                self._server = _Server((self.host, self._requested_port), _Handler)
            except (OSError, OverflowError) as exc:
                raise KagglekitError(f"cannot listen on {self.host}:{self._requested_port} "
                                     f"({getattr(exc, 'strerror', None) or exc}); pick another --port") from None
            self._server.daemon_threads = True
            self._server.sandbox = self
            # The environment holds the sandbox's key: readable by its owner only.
            write_text(self.state_dir / "client.env", "".join(f"{line}\n" for line in self.export_lines()),
                       permissions=0o600)
        return self

    def start(self) -> "Sandbox":
        """Serve in a background thread; returns at once."""
        self.bind()
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.1,), name="kagglekit-sandbox", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted."""
        self.bind()
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()

    def stop(self) -> None:
        """Stop serving, kill running kernel sessions and close the socket (state is already on disk)."""
        self.sessions.stop()
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        return self._server.server_address[1] if self._server else self._requested_port

    # -- what clients need -----------------------------------------------
    def client_env(self) -> dict[str, str]:
        """The environment that points the stock kaggle client (CLI or library) at this sandbox."""
        user, key = self.store.credentials()
        env = {"KAGGLE_API_ENVIRONMENT": "LOCALHOST", "KAGGLE_USERNAME": user, "KAGGLE_KEY": key}
        if self.port != 80:
            # The client only knows http://localhost; requests routes it here as a proxy.
            host = "127.0.0.1" if self.host in ("0.0.0.0", "", "localhost") else self.host
            proxy = f"http://{host}:{self.port}"
            env.update(http_proxy=proxy, HTTP_PROXY=proxy, no_proxy="", NO_PROXY="")
        return env

    def export_lines(self) -> list[str]:
        """client_env as shell lines to paste or source."""
        lines = [f"export {k}={shlex.quote(v)}" for k, v in self.client_env().items()]
        return lines + ["unset KAGGLE_API_TOKEN  # an access token would take precedence over the key"]

    def add_user(self, name: str, team: str | None = None) -> str:
        """Add user NAME (on TEAM, a team of their own by default) and return their key."""
        key = self.store.add_user(name)
        join_team(self.store, name, team or name)
        return key

    def configure(self, slug: str, **switches) -> dict:
        """Set a served competition's switches: rules_accepted, closed, daily_limit, rerun_time_limit."""
        if slug not in self.bundles:
            raise KagglekitError(f"the sandbox does not serve '{slug}'; it serves {', '.join(sorted(self.bundles))}")
        return self.store.configure(slug, **switches)


class _Handler(BaseHTTPRequestHandler):
    """One request; the Sandbox is self.server.sandbox."""

    server_version = "kagglekit-sandbox"

    @property
    def sandbox(self) -> Sandbox:
        return self.server.sandbox

    def log_message(self, fmt, *args):  # requests are logged by _api, without headers
        pass

    # -- plumbing --------------------------------------------------------
    def _target(self) -> str | None:
        """The request path; None (after answering 502) for a proxied request to another host."""
        parts = urlsplit(self.path)
        if parts.scheme and parts.hostname not in LOCAL_HOSTS:
            self._json(502, {"code": 502, "message": f"the kagglekit sandbox only answers for localhost, not {parts.hostname}"})
            return None
        return parts.path

    def _json(self, status: int, payload: dict, headers: dict | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _user(self) -> str | None:
        scheme, _, value = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() == "basic":
            try:
                name, _, key = base64.b64decode(value).decode().partition(":")
            except ValueError:
                return None
            return self.sandbox.store.user_for(name, key)
        if scheme.lower() == "bearer":
            return self.sandbox.store.user_for(None, value.strip())
        return None

    def _base_url(self) -> str:
        return f"http://{self.headers.get('Host') or 'localhost'}"

    # -- verbs -----------------------------------------------------------
    def do_POST(self):
        path = self._target()
        if path is None:
            return
        match = re.fullmatch(r"/api/v1/([\w.]+)/(\w+)", path)
        if match:
            return self._api(*match.groups())
        if path == "/sandbox/faults":
            return self._control(lambda spec: vars(self.sandbox.faults.set(**spec)) if spec else self.sandbox.faults.clear())
        match = re.fullmatch(r"/sandbox/competitions/([\w.-]+)", path)
        if match:
            return self._control(lambda spec: self.sandbox.configure(match.group(1), **spec))
        if path.startswith("/sandbox/"):
            return self._json(404, {"code": 404, "message": f"no such sandbox endpoint: {path}"})
        self._json(404, {"code": 404, "message": f"no such sandbox endpoint: {path}"})

    def do_GET(self):
        path = self._target()
        if path is None:
            return
        if path == "/sandbox/status":
            sb = self.sandbox
            return self._json(200, {"competitions": sorted(sb.bundles), "stats": dict(sb.stats), "faults": vars(sb.faults.plan)})
        if path.startswith("/sandbox/kernels/"):  # kernel outputs (kagglekit.sandbox.kernels)
            from kagglekit.sandbox.kernels import send_output

            return send_output(self, path)
        if path.startswith("/api/v1/kernels/logs/stream/"):  # a session's log, live (kagglekit.sandbox.kernels)
            from kagglekit.sandbox.kernels import stream_log

            return stream_log(self, path)
        for pattern, serve in DOWNLOADS:  # datasets, models, leaderboards (registered with routes.download)
            found = pattern.fullmatch(path)
            if found:
                served = serve(self.sandbox, found)
                if served is None:
                    return self._json(404, {"code": 404, "message": f"no such file: {path}"})
                return self._send_file(served.path, served.etag, served.last_modified, served.content_type)
        match = re.fullmatch(r"/sandbox/files/([\w.-]+)\.zip", path) or re.fullmatch(r"/sandbox/files/([\w.-]+)/(.+)", path)
        bundle = self.sandbox.bundles.get(match.group(1)) if match else None
        if bundle is None:
            return self._json(404, {"code": 404, "message": f"no such file: {path}"})
        if match.re.groups == 1:
            return self._send_file(bundle_zip(bundle, self.sandbox.cache_dir), bundle.etag, bundle.last_modified,
                                   "application/zip")
        name = unquote(match.group(2))
        file = bundle.file_path(name)
        if file is None and name.endswith(".zip") and bundle.file_path(name[:-len(".zip")]):
            file = file_zip(bundle, name[:-len(".zip")], self.sandbox.cache_dir)  # a large file, served compressed
        if file is None:
            return self._json(404, {"code": 404, "message": f"no such file: {path}"})
        self._send_file(file, bundle.etag, bundle.last_modified, "application/octet-stream")

    def do_PUT(self):
        """An upload to a URL that StartSubmissionUpload or StartBlobUpload handed out, as Google Cloud Storage's
        resumable protocol takes it: the whole file, a chunk (``Content-Range: bytes S-E/N``), or a status query
        (no body, ``Content-Range: bytes */N``), answered 200 when complete, else 308 with the ``Range`` received."""
        path = self._target()
        if path is None:
            return
        match = re.fullmatch(r"/sandbox/uploads/([\w-]+)", path)
        store = self.sandbox.store
        token = match.group(1) if match else ""
        upload = store.data["uploads"].get(token) if match else None
        if upload is None:
            return self._json(404, {"code": 404, "message": "unknown or expired upload URL; start the upload again"})
        content_range = self.headers.get("Content-Range", "")
        chunk = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", content_range)
        data = self._body()
        if re.fullmatch(r"bytes \*/\d+", content_range) and not data:
            return self._upload_status(token, upload)
        start = int(chunk.group(1)) if chunk else 0
        kept = store.upload_path(token)
        have = kept.stat().st_size if kept.is_file() and upload["received"] is None else 0
        if start > have:
            return self._upload_status(token, upload)  # a gap: the client asks again and resends from the Range
        total = int(chunk.group(3)) if chunk else start + len(data)
        if upload["content_length"] and total != upload["content_length"]:
            return self._json(400, {"code": 400, "message": f"expected {upload['content_length']} bytes, got {total}"})
        with open(kept, "r+b" if kept.is_file() else "wb") as fh:
            fh.truncate(start)
            fh.seek(start)
            fh.write(data)
        if start + len(data) < total:
            return self._upload_status(token, upload)
        with store.change() as state:
            state["uploads"][token]["received"] = total
        self.sandbox.stats["uploads"] += 1
        self._json(200, {})

    def _upload_status(self, token: str, upload: dict) -> None:
        """200 for a complete upload, else 308 (Resume Incomplete) with the bytes kept as ``Range: bytes=0-K``."""
        if upload["received"] is not None:
            return self._json(200, {})
        kept = self.sandbox.store.upload_path(token)
        size = kept.stat().st_size if kept.is_file() else 0
        self.send_response(308)
        if size:
            self.send_header("Range", f"bytes=0-{size - 1}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    # -- API calls -------------------------------------------------------
    def _api(self, service: str, method: str) -> None:
        sb = self.sandbox
        sb.stats[method] += 1
        time.sleep(sb.faults.take_delay(method))
        if sb.faults.take_hang(method):  # accepted, never answered: the client must give up by itself
            log.info("%s/%s -> no answer (injected fault)", service, method)
            sb.stopping.wait()
            self.close_connection = True
            return
        status = sb.faults.take_failure(method)
        if status:
            log.info("%s/%s -> %d (injected fault)", service, method, status)
            return self._json(status, {"code": status, "message": f"injected fault: the sandbox answers {method} with {status}"})
        try:
            answer, user = self._dispatch(service, method)
        except ApiError as err:
            log.info("%s/%s -> %d %s", service, method, err.status, err.message)
            headers = {"WWW-Authenticate": 'Basic realm="kaggle"'} if err.status == 401 else None
            return self._json(err.status, {"code": err.status, "message": err.message}, headers)
        lost = sb.faults.take_lost(method)
        if lost:  # done, but the client never hears so (a gateway timeout after the work)
            log.info("%s/%s by %s -> ok, answered %d (injected fault)", service, method, user, lost)
            return self._json(lost, {"code": lost, "message": f"injected fault: {method} was done but answered {lost}"})
        log.info("%s/%s by %s -> ok", service, method, user)
        if isinstance(answer, Redirect):
            self.send_response(302)
            self.send_header("Location", answer.url)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._json(200, type(answer).to_dict(answer) if answer is not None else {})

    def _dispatch(self, service: str, method: str):
        from kagglekit.sandbox.routes import ROUTES

        found = ROUTES.get((service, method))
        if found is None:
            raise not_served(service, method)
        user = self._user()
        if found.auth and user is None:
            raise ApiError(401, "Unauthenticated: unknown user name or API key")
        try:
            body = json.loads(self._body() or b"{}")
        except ValueError:
            raise ApiError(400, "the request body is not JSON") from None
        try:
            return found.handler(Call(self.sandbox, user, body, self._base_url())), user
        except ApiError:
            raise
        except Exception as exc:  # a sandbox bug must reach the client as a 500, not a dropped connection
            log.exception("%s/%s failed", service, method)
            raise ApiError(500, f"sandbox error: {exc}") from None

    # -- downloads -------------------------------------------------------
    def _send_file(self, path: Path, identity: str, last_modified: str, content_type: str) -> None:
        """Send PATH, honouring Range/If-Range like the storage Kaggle redirects to, and drop faults.

        IDENTITY (the ETag, unquoted) and LAST_MODIFIED change whenever the file's content does."""
        size = path.stat().st_size
        etag = f'"{identity}"'
        start, status = 0, 200
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        if match and self.headers.get("If-Range") in (None, etag, last_modified):
            start, status = int(match.group(1)), 206
            if start >= size:
                return self._json(416, {"code": 416, "message": "range not satisfiable"}, {"Content-Range": f"bytes */{size}"})
            self.sandbox.range_starts.append(start)
        self.send_response(status)
        for name, value in (("Content-Type", content_type), ("Content-Length", str(size - start)),
                            ("Accept-Ranges", "bytes"), ("ETag", etag), ("Last-Modified", last_modified)):
            self.send_header(name, value)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        self.end_headers()
        cut = self.sandbox.faults.take_drop()
        stall = self.sandbox.faults.take_stall()
        try:
            sent = self._copy(path, start, cut if stall is None else stall)
            if stall is not None and sent < size - start:
                self.wfile.flush()
                self.sandbox.stopping.wait()  # nothing more, and the connection stays open
        except (BrokenPipeError, ConnectionResetError):
            return  # the client stopped reading (e.g. it only wanted the headers)
        if (cut is not None or stall is not None) and sent < size - start:
            self.close_connection = True  # the client sees a short body: a dropped connection
            return
        self.sandbox.stats["downloads"] += 1

    def _copy(self, path: Path, start: int, limit: int | None) -> int:
        sent = 0
        with open(path, "rb") as fh:
            fh.seek(start)
            while limit is None or sent < limit:
                chunk = fh.read(CHUNK if limit is None else min(CHUNK, limit - sent))
                if not chunk:
                    break
                self.wfile.write(chunk)
                sent += len(chunk)
        return sent

    def _control(self, action) -> None:
        if self._user() is None:  # the sandbox's key, as the API calls take it
            return self._json(401, {"code": 401, "message": "the control endpoints need the sandbox's user and key "
                                                            "(Basic auth, as in client.env)"})
        try:
            spec = json.loads(self._body() or b"{}")
            result = action(spec)
        except (ValueError, TypeError, KagglekitError) as exc:
            return self._json(400, {"code": 400, "message": str(exc)})
        self._json(200, result or {})
