"""Accelerators: the machine shapes a kernel may ask for, the retired and restricted ones, and session limits.

The names are the ones the kaggle client's docs list; the retired ones come from the client's own table
when it has one, so a newer client's list wins. The server decides which shapes a competition allows.
"""

from __future__ import annotations

import contextlib
import io

from kagglekit.core.errors import KagglekitError

# Accelerator names the client's docs list; the server decides which ones a competition allows.
ACCELERATORS = ("NvidiaTeslaP100", "NvidiaTeslaT4", "NvidiaTeslaT4Highmem", "NvidiaL4", "NvidiaL4X1",
                "NvidiaTeslaA100", "NvidiaH100", "NvidiaRtxPro6000", "TpuV38", "Tpu1VmV38", "TpuV5E8", "TpuV6E8")
# Not retired, but not lent to everyone either (the client's docs: NvidiaTeslaT4Highmem is not for general use).
RESTRICTED_ACCELERATORS = ("NvidiaTeslaT4Highmem",)
# What the client warns about when kaggle_api_extended has no table of its own (read from client 2.2.5's
# _RETIRED_ACCELERATORS): lower-case machine shape -> where Kaggle runs such a session instead.
_RETIRED_IN_CLIENT_2_2_5 = {"nvidiateslap100": "Kaggle runs it on NvidiaTeslaT4", "tpuv38": "Kaggle runs it on TpuV5E8",
                            "tpu1vmv38": "Kaggle runs it on TpuV5E8", "tpuv232": "Kaggle runs it on CPU",
                            "tpuv2256": "Kaggle runs it on CPU"}


def retired_accelerators() -> dict[str, str]:
    """The accelerators the kaggle client marks retired: lower-case name -> what Kaggle runs instead.

    Taken from the client's own table (the one its push warning reads), so a newer client's list wins.
    """
    with contextlib.redirect_stdout(io.StringIO()):  # importing the client prints auth help without credentials
        from kaggle.api import kaggle_api_extended as client
    table = getattr(client, "_RETIRED_ACCELERATORS", None)
    return {k.lower(): str(v) for k, v in table.items()} if isinstance(table, dict) else dict(_RETIRED_IN_CLIENT_2_2_5)


def current_accelerators() -> list[str]:
    """The accelerator names a kernel can ask for: the known ones, less the retired and the restricted."""
    retired = retired_accelerators()
    return [a for a in ACCELERATORS if a.lower() not in retired and a not in RESTRICTED_ACCELERATORS]


def check_accelerator(shape: str | None) -> None:
    """Refuse an accelerator that is retired, not open to general use, or unknown, listing the current names."""
    if not shape:
        return
    current = ", ".join(current_accelerators())
    retired = retired_accelerators().get(shape.lower())
    if retired:
        said = " ".join(retired.split()).rstrip(".")
        raise KagglekitError(f"--gpu {shape} is retired: {said[:1].lower() + said[1:]}; pick a current one: {current}")
    if shape in RESTRICTED_ACCELERATORS:
        raise KagglekitError(f"--gpu {shape} is not open to general use; pick one of: {current}")
    if shape not in ACCELERATORS:
        raise KagglekitError(f"--gpu {shape} is not a known accelerator; valid: {current}")


def session_limit(gpu: str | None) -> int:
    """The longest a Kaggle session may run, in seconds: 12 hours, 9 on a TPU."""
    return 9 * 3600 if (gpu or "").startswith("Tpu") else 12 * 3600
