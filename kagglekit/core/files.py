"""Files kagglekit did not write: image files found below a folder, and CSVs read as text with clear errors.

Used by the catalog and by the inference of a new competition's definition, which both look at
a competition's files as Kaggle ships them.
"""

from __future__ import annotations

from pathlib import Path, PurePath

import pandas as pd

from kagglekit.core.errors import KagglekitError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


def is_listed_image(relative: PurePath) -> bool:
    """True for an image the catalog reads (a path inside a folder or zip; hidden files and __MACOSX skipped)."""
    return relative.suffix.lower() in IMAGE_SUFFIXES and not any(
        part.startswith(".") or part == "__MACOSX" for part in relative.parts
    )


def list_images(folder: Path) -> list[Path]:
    """Image files below FOLDER, in a stable order (hidden files and __MACOSX skipped)."""
    found = [p for p in folder.rglob("*") if is_listed_image(p.relative_to(folder))]
    return sorted(found, key=lambda p: str(p.relative_to(folder)))


def read_csv_text(path: Path, what: str) -> pd.DataFrame:
    """Read a CSV keeping every cell as text, with a clear error when it cannot be read."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise KagglekitError(f"{what} {path} does not exist; check the path") from None
    except IsADirectoryError:
        raise KagglekitError(f"{what} {path} is a folder, not a CSV file; pass the file") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise KagglekitError(f"{what} {path} is not a readable CSV ({str(exc).splitlines()[0]})") from None
