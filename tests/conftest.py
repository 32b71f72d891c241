"""Shared fixtures: the real data in ../shared, a CLI runner, an isolated working folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("KAGGLEKIT_SHARED_DATA", ROOT.parent / "shared" / "data"))
DOGS = SHARED_DATA / "dogs-vs-cats"


@pytest.fixture
def dogs_dir() -> Path:
    """The real dogs-vs-cats bundle, read-only; skips when ../shared is absent."""
    if not (DOGS / "train.zip").is_file():
        pytest.skip(f"real data not found at {DOGS} (set KAGGLEKIT_SHARED_DATA)")
    return DOGS


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """Run in a fresh folder with the project's competitions/ visible and a private cache."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KAGGLEKIT_CACHE", str(tmp_path / ".cache"))
    monkeypatch.delenv("KAGGLEKIT_COMPETITION", raising=False)
    (tmp_path / "competitions").symlink_to(ROOT / "competitions")
    return tmp_path


@pytest.fixture
def cli():
    """Invoke the kagglekit CLI in-process; returns (exit_code, stdout, stderr)."""
    from typer.testing import CliRunner

    from kagglekit.cli import app

    runner = CliRunner()

    def invoke(*args: str):
        result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    return invoke
