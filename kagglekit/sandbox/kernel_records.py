"""What each kernel push said, as typed records: the metadata ``kernels pull -m`` and ``kernels list`` answer from.

Each accepted push is recorded by SaveKernel (kagglekit.sandbox.kernels) as a
PushedVersion of its KernelRecord (state.json section "kernel_metadata", keyed
by owner/slug): what its kernel-metadata.json said, with the sources Kaggle
would keep (the valid ones), and the name of its source file in the session
folder (``script.py``, or ``notebook.ipynb`` kept exactly as the client sent it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kagglesdk.kernels.types import kernels_api_service as api

from kagglekit.sandbox.routes import Call
from kagglekit.sandbox.store import utc_now

SECTION = "kernel_metadata"
SOURCE_FILES = {"script": "script.py", "notebook": "notebook.ipynb"}


@dataclass
class PushedVersion:
    """What one push said (its kernel-metadata.json, as the SaveKernel request carried it)."""

    number: int
    created: str  # ISO time, UTC
    title: str
    language: str = "python"
    kernel_type: str = "script"
    source: str = "script.py"  # the file in the version's session folder
    is_private: bool = True
    enable_gpu: bool = False
    enable_tpu: bool = False
    enable_internet: bool = False
    machine_shape: str = ""
    docker_image: str = ""
    keywords: list[str] = field(default_factory=list)
    competition_sources: list[str] = field(default_factory=list)
    dataset_sources: list[str] = field(default_factory=list)
    kernel_sources: list[str] = field(default_factory=list)
    model_sources: list[str] = field(default_factory=list)


@dataclass
class KernelRecord:
    """A kernel's pushes, oldest first (state.json, section "kernel_metadata", keyed by owner/slug)."""

    versions: list[PushedVersion] = field(default_factory=list)

    @property
    def latest(self) -> PushedVersion:
        return self.versions[-1]


def source_name(kernel_type: str) -> str:
    """The file a pushed version's source is kept in, in its session folder."""
    return SOURCE_FILES[kernel_type]


def _kept(requested: list[str], invalid: list[str]) -> list[str]:
    return [s for s in requested if s not in set(invalid)]


def record_push(call: Call, ref: str, number: int, req: api.ApiSaveKernelRequest, answer: api.ApiSaveKernelResponse) -> None:
    """Record push NUMBER of kernel REF: its metadata, minus the sources the answer reports as invalid."""
    pushed = PushedVersion(
        number=number, created=utc_now().isoformat(), title=req.new_title or ref.split("/")[1],
        language=req.language, kernel_type=req.kernel_type, source=source_name(req.kernel_type),
        is_private=req.is_private is not False, enable_gpu=bool(req.enable_gpu), enable_tpu=bool(req.enable_tpu),
        enable_internet=bool(req.enable_internet), machine_shape=req.machine_shape or "",
        docker_image=req.docker_image or "", keywords=list(req.category_ids),
        competition_sources=_kept(req.competition_data_sources, answer.invalid_competition_sources),
        dataset_sources=_kept(req.dataset_data_sources, answer.invalid_dataset_sources),
        kernel_sources=_kept(req.kernel_data_sources, answer.invalid_kernel_sources),
        model_sources=_kept(req.model_data_sources, answer.invalid_model_sources))
    with call.sandbox.store.change_records(SECTION, KernelRecord) as kernels:
        kernels.setdefault(ref, KernelRecord()).versions.append(pushed)
