"""Zip archives: safe, atomic, once-only extraction.

Kaggle ships images in zips (sometimes zips in a zip). kagglekit extracts an
archive once into a folder that appears only when complete, and refuses any
entry that would land outside it.
"""

from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath

from kagglekit.atomic import atomic_folder
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


def extract_once(zip_path: Path, dest: Path) -> Path:
    """Extract ZIP_PATH into DEST unless DEST is already complete; return DEST."""
    dest = Path(dest)
    if dest.is_dir():
        return dest
    check_archive(zip_path)
    # First one wins: another process (a second `train --fold K`) may extract the same archive.
    with atomic_folder(dest, replace=False) as tmp, zipfile.ZipFile(zip_path) as zf:
        zf.extractall(tmp)
    return dest
