"""Fixtures for tests that talk to `kagglekit sandbox` through the real kaggle client.

Registered with ``pytest_plugins`` by the test modules that use them. Each
test gets its own sandbox (own state, free port) with the client's
environment pointed at it; the demo competition's files and the bundle zips
are built once per session.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# The kaggle client fixes its server (KAGGLE_API_ENVIRONMENT) and its config folder
# (KAGGLE_CONFIG_DIR) when it is first imported, so both are set before any test runs;
# the empty config folder keeps a developer's own ~/.kaggle/kaggle.json out of the tests.
os.environ["KAGGLE_API_ENVIRONMENT"] = "LOCALHOST"
os.environ["KAGGLE_CONFIG_DIR"] = tempfile.mkdtemp(prefix="kagglekit-test-kaggle-config-")

KAGGLE_CLI = Path(sys.executable).with_name("kaggle")


def _check_client_is_local() -> None:
    module = sys.modules.get("kaggle.api.kaggle_api_extended")
    if module is not None and "--local" not in module.KaggleApi.args:
        pytest.fail("the kaggle client was imported before tests/sandbox_fixtures.py pointed it at localhost")


@pytest.fixture(scope="session")
def sandbox_cache(tmp_path_factory) -> Path:
    """Demo files and bundle zips, shared by every sandbox of the session."""
    return tmp_path_factory.mktemp("sandbox-cache")


@pytest.fixture
def make_sandbox(tmp_path, sandbox_cache, monkeypatch, tmp_path_factory):
    """Start a sandbox serving the demo plus DATA_DIRS, and point the kaggle client at it."""
    from kagglekit.sandbox import Sandbox

    started = []
    _check_client_is_local()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.kaggle of the developer's
    monkeypatch.delenv("KAGGLE_API_TOKEN", raising=False)
    monkeypatch.setenv("KAGGLEKIT_HTTP_ATTEMPTS", "3")
    monkeypatch.setenv("KAGGLEKIT_HTTP_BACKOFF", "0.01")

    def make(*data_dirs: Path, state: Path | None = None, **settings):
        settings.setdefault("scoring_delay", 0.2)
        # shared, so that sessions reuse each other's extractions (as they do in one sandbox)
        settings.setdefault("kernel_cache_dir", tmp_path_factory.getbasetemp() / "sandbox-kernel-cache")
        server = Sandbox(list(data_dirs), state_dir=state or tmp_path / f"sandbox-state-{len(started)}",
                         port=0, cache_dir=sandbox_cache, **settings).start()
        started.append(server)
        for name, value in server.client_env().items():
            monkeypatch.setenv(name, value)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def sandbox(make_sandbox):
    """A running sandbox serving the built-in demo competition."""
    return make_sandbox()


@pytest.fixture
def run_kaggle():
    """Run the stock `kaggle` CLI of the venv, as a subprocess, with the current (sandbox) environment."""

    def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([str(KAGGLE_CLI), *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                              env=dict(os.environ))

    return run
