"""Zip archives: safe, atomic, once-only extraction.

Kaggle ships images in zips (sometimes zips in a zip). kagglekit extracts an
archive once into a folder that appears only when complete, and refuses any
entry that would land outside it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from kagglekit.errors import KagglekitError


def unsafe_entry(name: str) -> bool:
    """True when a zip entry name would escape the folder it is extracted into."""
    path = PurePosixPath(name.replace("\\", "/"))
    return path.is_absolute() or ".." in path.parts or (len(name) > 1 and name[1] == ":")


def check_archive(zip_path: Path) -> list[str]:
    """The archive's member names, after refusing unreadable archives and unsafe entries."""
    try:
        with zipfile.ZipFile(zip_path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise KagglekitError(f"{zip_path} is not a readable zip ({exc}); delete it and fetch again") from None
    bad = [n for n in names if unsafe_entry(n)]
    if bad:
        raise KagglekitError(
            f"{zip_path} has {len(bad)} entries that would land outside the target folder "
            f"(first: {bad[0]}); refusing to extract it"
        )
    return names


@contextmanager
def atomic_folder(dest: Path):
    """Yield a temporary sibling of DEST to fill; it replaces DEST only if the block completes.

    An interrupted fill never leaves a DEST that looks complete.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
    try:
        yield tmp
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def extract_once(zip_path: Path, dest: Path) -> Path:
    """Extract ZIP_PATH into DEST unless DEST is already complete; return DEST."""
    dest = Path(dest)
    if dest.is_dir():
        return dest
    check_archive(zip_path)
    with atomic_folder(dest) as tmp, zipfile.ZipFile(zip_path) as zf:
        zf.extractall(tmp)
    return dest
