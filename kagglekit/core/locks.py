"""Locks between processes: one holder at a time, named when another asks, freed when the holder dies.

A lock is a file locked with ``fcntl.flock``. The kernel releases a flock when
the process holding it ends, however it ends (kill -9 included), so a lock
left by a killed process is simply taken over by the next one: no stale-lock
guessing from PIDs or ages. The file also says who holds it (PID, start time),
so that a refusal can name the holder. Linux and macOS only, like the rest
of kagglekit's process handling (Kaggle's kernels run on Linux).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from kagglekit.core.errors import KagglekitError

log = logging.getLogger("kagglekit")


def holder(path: Path) -> dict:
    """What the lock file PATH says about its last holder: {"pid", "started"}, or {} when it says nothing."""
    try:
        info = json.loads(Path(path).read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


@contextlib.contextmanager
def hold(path: Path, what: str, wait: bool = False, hint: str = "wait for it to finish, or stop it") -> Iterator[None]:
    """Hold the lock PATH while the block runs.

    When another process holds it: wait for it (WAIT), or raise a KagglekitError
    that names WHAT, the holder's PID and start time, and HINT.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            other = holder(path)
            who = f"process {other.get('pid', '?')} (started {other.get('started', 'at an unknown time')})"
            raise KagglekitError(f"{what} is in use by {who}; {hint}") from None
        before = holder(path)
        if before.get("pid") and before.get("pid") != os.getpid() and _alive(before["pid"]) is False:
            log.info("taking over %s from process %s, which ended without releasing it", what, before["pid"])
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "started": started}).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)  # nobody holds it now
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _alive(pid: int) -> bool | None:
    """True when process PID runs, False when it does not, None when this process cannot tell."""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, OverflowError):
        return None
    return True


# -- folders being filled ------------------------------------------------------------

@contextlib.contextmanager
def claimed_folder(make: Callable[[], Path]) -> Iterator[Path]:
    """A new folder made by MAKE(), flock-held by this process for the block, so that sweep_unclaimed spares it.

    A folder swept (or being judged by a sweeper) before it could be claimed is left to the sweeper and
    another one is made.
    """
    while True:
        path = make()
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # a sweeper holds it for a moment, and deletes it
            os.close(fd)
            continue
        if os.fstat(fd).st_nlink:
            break
        os.close(fd)  # swept between its making and the lock
    try:
        yield path
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def sweep_unclaimed(folders) -> list[Path]:
    """Delete each of FOLDERS that no running process holds (left by one that was killed); the ones deleted."""
    swept = []
    for path in folders:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:  # gone already, or not a folder
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # its process is still filling it
            os.close(fd)
            continue
        try:
            shutil.rmtree(path, ignore_errors=True)
            swept.append(Path(path))
        finally:
            os.close(fd)
    return swept
