"""The machine shapes the sandbox accepts, the kind of session each gives, and a session's thread limits.

The names are the accelerators the kaggle client's docs list (shared/docs/kaggle-facts.md), written here and
not taken from kagglekit's own list, so that the sandbox checks kagglekit's pushes against Kaggle's names
instead of against themselves. Like Kaggle's server, the sandbox takes the retired names too (Kaggle
substitutes another machine for them; the client is what warns).
"""

from __future__ import annotations

import os

MACHINE_SHAPES = ("NvidiaTeslaP100", "NvidiaTeslaT4", "NvidiaTeslaT4Highmem", "NvidiaL4", "NvidiaL4X1",
                  "NvidiaTeslaA100", "NvidiaH100", "NvidiaRtxPro6000", "TpuV38", "Tpu1VmV38", "TpuV5E8", "TpuV6E8")
# CPU cores the sandbox assumes a session of each kind has; a session never gets more than the machine has.
KIND_CORES = {"CPU": 4, "GPU": 4, "TPU": 96}
THREAD_VARIABLES = ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def check_machine_shape(shape: str | None) -> str | None:
    """None when SHAPE is empty or a name Kaggle takes, else the refusal to send back."""
    if not shape or shape in MACHINE_SHAPES:
        return None
    return f"Invalid machine shape {shape}; valid: {', '.join(MACHINE_SHAPES)}"


def session_kind(machine_shape: str | None, enable_gpu: bool = False, enable_tpu: bool = False) -> str:
    """GPU, TPU or CPU: what a push asks for, by machine shape or else by the enable_* flags."""
    shape = machine_shape or ""
    if shape.startswith("Tpu") or (not shape and enable_tpu):
        return "TPU"
    return "GPU" if shape.startswith("Nvidia") or (not shape and enable_gpu) else "CPU"


def thread_limits(kind: str, environ: dict | None = None) -> dict[str, str]:
    """OMP_NUM_THREADS and TF_NUM_*_THREADS for a session of KIND: the sandbox's own values when it has them
    (so that test workers sharing a few cores do not oversubscribe them), else the kind's cores, capped at
    this machine's."""
    environ = os.environ if environ is None else environ
    cores = str(max(1, min(KIND_CORES.get(kind, 4), os.cpu_count() or 1)))
    return {name: environ.get(name) or cores for name in THREAD_VARIABLES}
