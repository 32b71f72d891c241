"""Atomic writes: a file or a folder appears whole, or not at all.

Everything kagglekit writes that another step reads back (run records,
checkpoints' companions, submissions, fetch records, the sandbox's state,
reports, kernel records) goes through here. A file is written under a unique
temporary name beside its target, flushed and fsynced, then renamed into
place: a crash leaves the previous version or nothing, and two processes
writing the same file (two `train --fold K` sharing a run folder) never trip
over each other's temporary file. New files get the permissions a plain
``open()`` would give (the umask's), unless PERMISSIONS says otherwise.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

from kagglekit.core.locks import claimed_folder, sweep_unclaimed

_umask_lock = threading.Lock()
_umask: list[int] = []


def _process_umask() -> int:
    """The process umask (read once: os.umask can only be read by setting it)."""
    with _umask_lock:
        if not _umask:
            current = os.umask(0o022)
            os.umask(current)
            _umask.append(current)
    return _umask[0]


def _default_permissions() -> int:
    """What open() gives a new file: 0o666 less the umask."""
    return 0o666 & ~_process_umask()


@contextmanager
def atomic_open(path: Path, mode: str = "w", permissions: int | None = None, **open_kwargs):
    """Open a temporary sibling of PATH for writing; it replaces PATH when the block ends without error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        os.chmod(tmp, _default_permissions() if permissions is None else permissions)
        with os.fdopen(fd, mode, **open_kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_target(path: Path):
    """A unique temporary path beside PATH, ending like PATH's name, for a library that writes files by name
    (and checks their suffix, as Keras does for .weights.h5); it replaces PATH when the block completes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".partial-", suffix=f"-{path.name}", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes(path: Path, data: bytes, permissions: int | None = None) -> Path:
    """Write DATA to PATH atomically."""
    with atomic_open(path, "wb", permissions) as fh:
        fh.write(data)
    return Path(path)


def write_text(path: Path, text: str, permissions: int | None = None) -> Path:
    """Write TEXT (UTF-8) to PATH atomically."""
    with atomic_open(path, "w", permissions, encoding="utf-8", newline="") as fh:
        fh.write(text)
    return Path(path)


def write_json(path: Path, data, permissions: int | None = None) -> Path:
    """Write DATA as indented JSON to PATH atomically."""
    return write_text(path, json.dumps(data, indent=2, default=str) + "\n", permissions)


@contextmanager
def atomic_folder(dest: Path, replace: bool = True):
    """Yield a temporary sibling of DEST to fill; it becomes DEST only if the block completes.

    REPLACE False keeps a DEST that another process completed meanwhile (first one
    wins, the copy just made is dropped): for caches that several processes fill.
    The temporary folders (hidden: ``.DEST.*.partial`` and ``.DEST.*.old``) are held
    by their process while it runs; those a killed process left are swept here.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    sweep_unclaimed(stale_siblings(dest))

    def sibling(suffix: str):
        return lambda: Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=suffix, dir=dest.parent))

    with claimed_folder(sibling(".partial")) as tmp:
        try:
            yield tmp
            os.chmod(tmp, 0o777 & ~_process_umask())  # mkdtemp's 0700, widened as mkdir would
            if dest.exists() and not replace:
                shutil.rmtree(tmp, ignore_errors=True)
                return
            if not dest.exists():
                _move_in(tmp, dest, replace)
                return
            # moved aside, not deleted first: a kill between the renames loses no complete copy
            with claimed_folder(sibling(".old")) as old:
                os.replace(dest, old / dest.name)
                try:
                    _move_in(tmp, dest, replace)
                except BaseException:
                    os.replace(old / dest.name, dest)  # the complete copy goes back where it was
                    raise
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def _move_in(tmp: Path, dest: Path, replace: bool) -> None:
    try:
        os.replace(tmp, dest)
    except OSError:
        if replace or not dest.is_dir():
            raise
        shutil.rmtree(tmp, ignore_errors=True)  # another process finished the same folder first


def stale_siblings(dest: Path) -> list[Path]:
    """The hidden folders atomic_folder makes beside DEST (in progress, or left by a killed process)."""
    pattern = f".{glob.escape(Path(dest).name)}.*"
    return [p for p in Path(dest).parent.glob(pattern) if p.suffix in (".partial", ".old") and p.is_dir()]
