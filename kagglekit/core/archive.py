"""Zip archives: safe, atomic, once-only extraction.

Kaggle ships images in zips (sometimes zips in a zip). kagglekit extracts an
archive once into a folder that appears only when complete, and refuses any
entry that would land outside it.
"""

from __future__ import annotations

import shutil
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from kagglekit.core.atomic import atomic_folder
from kagglekit.core.errors import KagglekitError


def unsafe_entry(name: str) -> bool:
    """True when a zip entry name would escape the folder it is extracted into."""
    path = PurePosixPath(name.replace("\\", "/"))
    return path.is_absolute() or ".." in path.parts or (len(name) > 1 and name[1] == ":")


# A real competition archive (JPEG, PNG, CSV) compresses a few times at most; zeros compress ~1000:1.
MAX_RATIO = 200
SMALL_ENTRY = 1 << 20  # entries below 1 MB are not judged by their ratio (tiny CSVs compress well)
SPARE_BYTES = 100 << 20  # free space left after an extraction


def check_archive(zip_path: Path, dest: Path | None = None) -> list[str]:
    """The archive's member names, after refusing unreadable archives, unsafe entries, entries that
    expand suspiciously (more than MAX_RATIO:1) and an extraction that would not fit on DEST's disk."""
    try:
        with zipfile.ZipFile(zip_path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise KagglekitError(f"{zip_path} is not a readable zip ({exc}); delete it and fetch again") from None
    names = [i.filename for i in infos]
    bad = [n for n in names if unsafe_entry(n)]
    if bad:
        raise KagglekitError(
            f"{zip_path} has {len(bad)} entries that would land outside the target folder "
            f"(first: {bad[0]}); refusing to extract it"
        )
    for info in infos:
        if info.file_size > SMALL_ENTRY and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise KagglekitError(
                f"{zip_path}: entry {info.filename} would expand from {_size(info.compress_size)} to "
                f"{_size(info.file_size)} (more than {MAX_RATIO}:1, not what images or CSVs do); refusing to extract it"
            )
    if dest is not None:
        total = sum(i.file_size for i in infos)
        free = shutil.disk_usage(_existing_parent(Path(dest))).free
        if total + SPARE_BYTES > free:
            raise KagglekitError(
                f"{zip_path} unpacks to {_size(total)} but {_existing_parent(Path(dest))} has {_size(free)} free; "
                "free some space (or set KAGGLEKIT_CACHE to a larger disk) and run again"
            )
    return names


def _existing_parent(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def extract_once(zip_path: Path, dest: Path) -> Path:
    """Extract ZIP_PATH into DEST unless DEST is already complete; return DEST."""
    dest = Path(dest)
    if dest.is_dir():
        return dest
    check_archive(zip_path, dest)
    # First one wins: another process (a second `train --fold K`) may extract the same archive.
    try:
        with atomic_folder(dest, replace=False) as tmp, zipfile.ZipFile(zip_path) as zf:
            zf.extractall(tmp)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:  # e.g. "Bad CRC-32 for file ...": a damaged entry
        raise KagglekitError(f"{zip_path} is damaged ({' '.join(str(exc).split())[:160]}); "
                             "download it again (kagglekit fetch --force)") from None
    return dest
