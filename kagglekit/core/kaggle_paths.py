"""Where things are inside a Kaggle kernel, and the environment names that move them elsewhere.

On Kaggle, inputs (the competition, attached datasets, models and earlier kernel outputs) are mounted
read-only under /kaggle/input and a version's output is whatever it leaves in /kaggle/working. The sandbox
and the tests run the same kernel scripts outside Kaggle by moving those roots with environment variables;
this module is the one place both sides take the names from.
"""

from __future__ import annotations

import os
from pathlib import Path

KAGGLE_INPUT = "/kaggle/input"
KAGGLE_WORKING = "/kaggle/working"
INPUT_ENV = "KAGGLEKIT_KAGGLE_INPUT"  # moves /kaggle/input
WORKING_ENV = "KAGGLEKIT_KAGGLE_WORKING"  # moves /kaggle/working
KERNEL_TMP_ENV = "KAGGLEKIT_KERNEL_TMP"  # where a kernel script unpacks the kagglekit it carries
RUN_TYPE_ENV = "KAGGLE_KERNEL_RUN_TYPE"  # set by Kaggle inside every kernel
RERUN_ENV = "KAGGLE_IS_COMPETITION_RERUN"  # set by Kaggle during a code competition's rerun


def kaggle_roots() -> tuple[Path, Path]:
    """(input root, working folder): /kaggle/input and /kaggle/working unless the environment moves them."""
    return Path(os.environ.get(INPUT_ENV, KAGGLE_INPUT)), Path(os.environ.get(WORKING_ENV, KAGGLE_WORKING))


def under_input_root(path: str) -> str:
    """PATH as written for Kaggle (/kaggle/input/...) where this session's input root really is (it may be moved)."""
    input_root, _ = kaggle_roots()
    if path.startswith(KAGGLE_INPUT + "/") and str(input_root) != KAGGLE_INPUT:
        return str(input_root / path[len(KAGGLE_INPUT) + 1:])
    return path


def moved_roots(input_root: Path, working: Path, tmp: Path) -> dict[str, str]:
    """The environment that runs a kernel script with its roots at INPUT_ROOT, WORKING and TMP (sandbox, tests)."""
    return {INPUT_ENV: str(input_root), WORKING_ENV: str(working), KERNEL_TMP_ENV: str(tmp)}


def model_mount(handle: str) -> str:
    """Where Kaggle mounts the Kaggle Model version HANDLE (owner/model/framework/variation/version) in a kernel."""
    _, model, framework, variation, version = handle.split("/")
    return f"{KAGGLE_INPUT}/{model}/{framework}/{variation}/{version}"


def dataset_mount(handle: str) -> str:
    """Where Kaggle mounts the dataset HANDLE (owner/slug) in a kernel."""
    return f"{KAGGLE_INPUT}/{handle.split('/')[1]}"
