"""The machine shapes the sandbox takes are Kaggle's names (shared/docs/kaggle-facts.md), not kagglekit's own list,
and a session's thread limits come from the sandbox's environment or the machine shape's cores."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

from kagglekit.core.errors import KagglekitError
from kagglekit.kernels.build import check_accelerator
from kagglekit.sandbox.machines import check_machine_shape, session_kind, thread_limits

# Written out from the facts file (the client's docs, Feb 2026), not imported from any kagglekit module.
KAGGLE_NAMES = ["NvidiaTeslaP100", "NvidiaTeslaT4", "NvidiaTeslaT4Highmem", "NvidiaL4", "NvidiaL4X1",
                "NvidiaTeslaA100", "NvidiaH100", "NvidiaRtxPro6000", "TpuV38", "Tpu1VmV38", "TpuV5E8", "TpuV6E8"]
SANDBOX = Path(__file__).resolve().parents[2] / "kagglekit" / "sandbox"


@pytest.mark.parametrize("name", KAGGLE_NAMES)
def test_every_name_in_kaggles_list_is_taken(name):
    assert check_machine_shape(name) is None


@pytest.mark.parametrize("name", ["NvidiaTeslaK80", "TpuV2", "T4", "Gpu", "nvidia-tesla-t4"])
def test_a_name_kaggle_does_not_list_is_refused_with_the_valid_ones(name):
    refusal = check_machine_shape(name)
    assert refusal.startswith(f"Invalid machine shape {name}; valid: NvidiaTeslaP100, ")
    assert refusal.endswith("TpuV6E8")


@pytest.mark.parametrize("name", ["NvidiaTeslaP100", "TpuV38", "NvidiaTeslaT4Highmem"])
def test_names_kagglekit_refuses_but_kaggle_takes_are_taken(name):
    with pytest.raises(KagglekitError):  # retired or not for general use: kagglekit steers users away
        check_accelerator(name)
    assert check_machine_shape(name) is None  # Kaggle's server takes them (and substitutes a machine)


def test_no_sandbox_module_takes_names_from_kagglekits_kernels():
    for path in SANDBOX.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("kagglekit.kernels"), path.name


def test_the_kind_follows_the_shape_then_the_flags():
    assert [session_kind("NvidiaTeslaT4"), session_kind("TpuV5E8"), session_kind(None)] == ["GPU", "TPU", "CPU"]
    assert [session_kind("", enable_gpu=True), session_kind("", enable_tpu=True)] == ["GPU", "TPU"]


def test_thread_limits_come_from_the_sandbox_else_the_shapes_cores_capped_at_the_machines():
    cores = str(min(4, os.cpu_count()))
    assert thread_limits("CPU", {"OMP_NUM_THREADS": "1"}) == {
        "OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": cores, "TF_NUM_INTEROP_THREADS": cores}
    assert thread_limits("TPU", {})["OMP_NUM_THREADS"] == str(min(96, os.cpu_count()))
