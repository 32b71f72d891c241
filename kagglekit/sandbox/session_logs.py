"""A kernel session's log, kept and served the way Kaggle keeps and serves it.

While a session runs, its stdout and stderr lines become events
{stream_name, time, data} (time: seconds since the session started), written
to <session>/log.jsonl one a line as they arrive, and its plain text to
<session>/log.txt (failure messages are read from it). A kept log is a JSON
array of those events (ListKernelSessionOutput's ``log``, and the log stream
of an ended session); a running session's log is sent as server-sent events,
one ``data:`` line per event, ending with ``END_OF_LOG``: what the client's
``kernels_logs_stream`` reads.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable

EVENTS_FILE = "log.jsonl"
END_OF_LOG = "END_OF_LOG"  # the stream's last event, as the client expects it
KEEPALIVE_SECONDS = 15.0  # a quiet stream sends a comment this often, so that no read times out


class SessionLog:
    """A running session's output as Kaggle keeps it: {stream_name, time, data} events in the order the lines
    arrive (log.jsonl, flushed line by line so that the stream can follow it), and the plain text (log.txt)."""

    def __init__(self, session: Path, process: subprocess.Popen):
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._text = open(session / "log.txt", "wb")
        self._events = open(session / EVENTS_FILE, "w", encoding="utf-8")
        self._readers = [threading.Thread(target=self._read, args=(pipe, name), daemon=True)
                         for pipe, name in ((process.stdout, "stdout"), (process.stderr, "stderr"))]
        for reader in self._readers:
            reader.start()

    def _read(self, pipe, stream_name: str) -> None:
        for raw in iter(pipe.readline, b""):
            event = {"stream_name": stream_name, "time": round(time.monotonic() - self._started, 6),
                     "data": raw.decode("utf-8", errors="replace")}
            with self._lock:
                self._text.write(raw)
                self._text.flush()
                self._events.write(json.dumps(event) + "\n")
                self._events.flush()
        pipe.close()

    def close(self) -> None:
        """Wait for the last lines (the process has ended), then close both files."""
        for reader in self._readers:
            reader.join(timeout=30)  # a child the script left behind may hold the pipes open
        with self._lock:
            self._text.close()
            self._events.close()


def log_events(session: Path, offset: int = 0) -> tuple[list[str], int]:
    """The complete event lines of log.jsonl from byte OFFSET on, and the offset after them."""
    path = session / EVENTS_FILE
    if not path.is_file():
        return [], offset
    with open(path, "rb") as fh:
        fh.seek(offset)
        data = fh.read()
    complete = data[:data.rfind(b"\n") + 1]  # a line being written is taken next time
    lines = [line.decode("utf-8", errors="replace") for line in complete.splitlines() if line.strip()]
    return lines, offset + len(complete)


def kaggle_log(session: Path) -> str | None:
    """The session's log the way Kaggle returns a kept one: a JSON array of events, one per line."""
    lines, _ = log_events(session)
    if lines:
        return "[" + "\n,".join(lines) + "]"
    plain = session / "log.txt"  # sessions from before events were kept
    text = plain.read_text(errors="replace") if plain.is_file() else ""
    return text or None


def send_kept_log(handler, body: bytes) -> None:
    """Answer with the kept log of an ended session (a JSON array, as Kaggle keeps it)."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def send_live_log(handler, session: Path, running: Callable[[], bool]) -> None:
    """The log of a running session as server-sent events, until RUNNING() is false, then END_OF_LOG; over chunked
    HTTP/1.1, so that a cut connection is an error for the client, not a clean end."""
    sandbox = handler.sandbox
    handler.protocol_version = "HTTP/1.1"
    handler.send_response(200)
    for name, value in (("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache"),
                        ("Transfer-Encoding", "chunked"), ("Connection", "close")):
        handler.send_header(name, value)
    handler.end_headers()
    handler.close_connection = True
    cut, sent, offset, quiet_since = sandbox.faults.take_drop(), 0, 0, time.monotonic()

    def send(text: str) -> bool:
        nonlocal sent
        data = text.encode()
        if cut is not None and sent + len(data) > cut:  # the injected fault: cut mid-stream
            return False
        handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        handler.wfile.flush()
        sent += len(data)
        return True

    try:
        while not sandbox.stopping.is_set():
            still = running()  # before reading: once it has ended, the read gets the rest
            lines, offset = log_events(session, offset)
            if not all(send(f"data: {line}\n\n") for line in lines):
                return
            if not still:
                break
            if lines:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > KEEPALIVE_SECONDS:
                if not send(": keepalive\n\n"):
                    return
                quiet_since = time.monotonic()
            time.sleep(0.1)
        if send(f"data: {END_OF_LOG}\n\n"):
            handler.wfile.write(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        return
