"""A kernel session's log: what it has written so far, or each line as it is written, through the kaggle client.

Kaggle keeps a session's log as JSON events {stream_name, time, data};
kagglekit passes on their text. ``follow_log`` reads the client's log stream
(``kernels_logs_stream``: live while the session runs, the kept log once it
has ended) and keeps following across broken connections until the session
ends. Every call goes through remote.call, as in kernel_remote.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Callable

from kagglekit.kaggle.remote import connect
from kagglekit.kernels.remote import SessionStatus, _kernel_call, poll_seconds, readable_log, statuses, versioned


def session_log(kernel_id: str, version: int | None = None) -> str:
    """The session's log so far (of VERSION, else of the latest version), as lines to read."""
    api = connect()
    ref = versioned(kernel_id, version)
    return readable_log(_kernel_call(lambda: api.kernels_logs(ref), f"get the log of {ref}") or "")


def follow_log(kernel_id: str, version: int | None, on_line: Callable[[str], None]) -> SessionStatus:
    """Each line of the session's log as it is written (the client's log stream), until the session has ended;
    returns its final status.

    The stream starts over on every connection, so lines already passed on are skipped. A connection that
    breaks off after new lines is opened again at once; one that brought nothing new is a question for the
    session's status: still running (a quiet session) means wait a poll and reconnect, and a status call
    that fails is the error the user sees.
    """
    api = connect()
    ref = versioned(kernel_id, version)
    stdout = sys.stdout

    def passed_on(line: str) -> None:  # remote.call hides what is printed to stdout during the call: not these lines
        with contextlib.redirect_stdout(stdout):
            on_line(line)

    seen = 0
    while True:
        before = seen
        seen, ended = _kernel_call(lambda: _stream_once(api, ref, before, passed_on), f"follow the log of {ref}")
        if not ended and seen > before:
            continue
        [status] = statuses([kernel_id], api, {kernel_id: version})
        if status.finished and ended:
            return status
        if not status.finished:
            time.sleep(poll_seconds())


def _stream_once(api, ref: str, seen: int, on_line: Callable[[str], None]) -> tuple[int, bool]:
    """One connection to the log stream: ON_LINE for each event after the first SEEN; (events seen, True when
    the stream came to its end rather than broke off). Raises when the connection brought nothing."""
    import requests
    from urllib3.exceptions import ProtocolError

    count = 0
    try:
        for count, event in enumerate(api.kernels_logs_stream(ref), 1):
            if count > seen and isinstance(event, dict) and event.get("data") is not None:
                on_line(str(event["data"]))
    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError, ProtocolError):
        if count == 0:  # nothing came through: a failure for remote.call to retry or explain
            raise
        return max(count, seen), False
    return max(count, seen), True
