"""The small files of a run folder (JSON records, per-epoch histories), read and written without TensorFlow.

Written atomically (a temporary file, then a rename), so a crash leaves the
previous version or none, never half a file; commands such as `runs` and
`report` read them without loading Keras.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd


def write_text(path: Path, text: str) -> None:
    """Write TEXT to PATH atomically."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json(path: Path, data) -> None:
    """Write DATA as JSON to PATH atomically."""
    write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def read_json(path: Path, default=None):
    """The JSON in PATH, or DEFAULT when it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return default


def read_history(fold_dir: Path) -> pd.DataFrame:
    """A fold's per-epoch history (one row per epoch, the latest row kept after a restart)."""
    path = Path(fold_dir) / "history.csv"
    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame()
    history = pd.read_csv(path)
    return history.drop_duplicates("epoch", keep="last").reset_index(drop=True) if "epoch" in history else history
