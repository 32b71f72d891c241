"""Shared fixtures: the real data in ../shared, a CLI runner, an isolated working folder; the test tiers.

Tests live in three tiers, one folder each, and each test is marked with its folder's name:
  unit/         pure logic: no training, no server, no subprocess
  integration/  the sandbox driven by the real kaggle client, CLI commands, tiny in-process training
  e2e/          real kernel sessions and reruns in subprocesses that import TensorFlow, kill -9 and resume
`make test` runs `-m "unit or integration"` (five minutes at most on two cores), `make test-e2e` runs `-m e2e`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

# The sandbox's fixtures point the kaggle client at localhost before anything imports it (see there).
pytest_plugins = ["sandbox_fixtures", "kernel_fixtures"]
TIERS = ("unit", "integration", "e2e")

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Under pytest-xdist the cores are shared out between the workers, so that each worker's TensorFlow (and the
# sandbox sessions it starts, which inherit these) does not start a thread per core and oversubscribe them.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    for _name in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        os.environ.setdefault(_name, str(max(1, (os.cpu_count() or 1) // _WORKERS)))

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("KAGGLEKIT_SHARED_DATA", ROOT.parent / "shared" / "data"))
DOGS = SHARED_DATA / "dogs-vs-cats"


def pytest_collection_modifyitems(config, items):
    """Mark every test with its tier, the name of the folder it lives in (tests outside the tiers are refused)."""
    for item in items:
        tier = Path(item.fspath).parent.name
        if tier not in TIERS:
            raise pytest.UsageError(f"{item.nodeid}: put the test into tests/unit, tests/integration or tests/e2e")
        item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(autouse=True)
def kagglekit_logger_reset():
    """Undo what a CLI command did to the kagglekit logger, so that caplog sees the next test's records."""
    yield
    logger = logging.getLogger("kagglekit")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.propagate = True
    logger.setLevel(logging.NOTSET)


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    """A cache shared by the whole session, all pytest-xdist workers included (their temporary folders have
    one parent): what it holds is keyed by the files it came from, so no test can see another's by mistake."""
    root = tmp_path_factory.getbasetemp().parent / "kagglekit-shared-cache"
    root.mkdir(exist_ok=True)
    return root


@pytest.fixture
def dogs_dir(workdir, shared_cache) -> Path:
    """The real dogs-vs-cats bundle, read-only; skips when ../shared is absent.

    Its zips are extracted once per session into SHARED_CACHE (extraction is atomic: the first worker wins)
    and linked into the test's own cache, where the catalog looks for them (the key: path, size, mtime)."""
    if not (DOGS / "train.zip").is_file():
        pytest.skip(f"real data not found at {DOGS} (set KAGGLEKIT_SHARED_DATA)")
    from kagglekit.core.archive import extract_once
    from kagglekit.data.catalog import cache_dir, extraction_dir

    own = cache_dir()
    for name in ("train.zip", "test1.zip"):
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("KAGGLEKIT_CACHE", str(shared_cache))
            shared = extract_once(DOGS / name, extraction_dir(DOGS / name))
        link = own / shared.parent.relative_to(shared_cache)
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(shared.parent, target_is_directory=True)
    return DOGS


@pytest.fixture
def workdir(tmp_path, monkeypatch, shared_cache) -> Path:
    """Run in a fresh folder with the project's competitions/ visible and a private cache.

    Only the cache of image checks is shared (keyed by every file's path, size and mtime)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KAGGLEKIT_CACHE", str(tmp_path / ".cache"))
    monkeypatch.delenv("KAGGLEKIT_COMPETITION", raising=False)
    (tmp_path / "competitions").symlink_to(ROOT / "competitions")
    (tmp_path / ".cache").mkdir()
    (shared_cache / "checked").mkdir(exist_ok=True)
    (tmp_path / ".cache" / "checked").symlink_to(shared_cache / "checked", target_is_directory=True)
    return tmp_path


TRAINED_DEMO = ["train", "-c", "demo-digits", "--folds", "2", "--epochs", "1", "--sample", "60", "--image-size", "16",
                "--model", "bn_cnn_small"]


@dataclass(frozen=True)
class TrainedRun:
    """A finished run and what `kagglekit train` printed making it."""

    home: Path  # the folder it was trained in (its data/ and runs/)
    run: Path
    stdout: str
    stderr: str
    command: tuple[str, ...] = tuple(TRAINED_DEMO)


@pytest.fixture(scope="session")
def trained_demo_run(shared_cache) -> TrainedRun:
    """One tiny real run of the built-in demo (TRAINED_DEMO), trained once for the whole session, every
    pytest-xdist worker included (a file lock: the first worker trains, the others wait and read it).

    For tests that only read a run: copy it (shutil.copytree) before changing anything in it."""
    import fcntl

    from typer.testing import CliRunner

    from kagglekit.cli import app

    home, done = shared_cache / "trained-demo", shared_cache / "trained-demo.json"
    with open(shared_cache / "trained-demo.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.is_file():
            shutil.rmtree(home, ignore_errors=True)  # what a worker that failed half-way left
            home.mkdir()
            (home / "competitions").symlink_to(ROOT / "competitions")
            with pytest.MonkeyPatch.context() as mp:
                mp.chdir(home)
                mp.setenv("KAGGLEKIT_CACHE", str(home / ".cache"))
                mp.delenv("KAGGLEKIT_COMPETITION", raising=False)
                result = CliRunner().invoke(app, TRAINED_DEMO, catch_exceptions=False)
            assert result.exit_code == 0, result.stderr
            run = home / result.stdout.split("run folder: ")[1].split()[0]
            done.write_text(json.dumps({"run": str(run), "stdout": result.stdout, "stderr": result.stderr}))
    found = json.loads(done.read_text())
    return TrainedRun(home, Path(found["run"]), found["stdout"], found["stderr"])


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


def extract_photos(zip_path: Path, out: Path, names: list[str]) -> list[Path]:
    """Copy a few real photos out of a Kaggle zip (by file name) into OUT."""
    import zipfile

    out.mkdir(parents=True, exist_ok=True)
    written = []
    with zipfile.ZipFile(zip_path) as zf:
        members = {Path(n).name: n for n in zf.namelist()}
        for name in names:
            target = out / name
            target.write_bytes(zf.read(members[name]))
            written.append(target)
    return written


@pytest.fixture
def folders_competition(workdir, dogs_dir) -> Path:
    """A class-per-folder competition made of real dogs-vs-cats photos, with its own TOML."""
    data = workdir / "pets"
    for label in ("cat", "dog"):
        extract_photos(dogs_dir / "train.zip", data / "train" / label, [f"{label}.{i}.jpg" for i in range(12)])
    test = extract_photos(dogs_dir / "test1.zip", data / "test", [f"{i}.jpg" for i in range(1, 9)])
    ids = sorted(int(p.stem) for p in test)
    (data / "sample.csv").write_text("id,cat,dog\n" + "".join(f"{i},0.5,0.5\n" for i in ids))
    toml = workdir / "pets.toml"
    toml.write_text(
        'slug = "pets-folders"\nmetric = "log_loss"\n'
        '[files]\ntrain = "train"\ntest = "test"\nsample_submission = "sample.csv"\n'
        '[labels]\nsource = "folders"\nclasses = ["cat", "dog"]\n'
        '[submission]\nkind = "class_columns"\nclip = [0.01, 0.99]\n'
    )
    return toml
