"""What a kernel is built from: the competition, the settings, the machine and the attached sources.

A ``KernelSpec`` says everything a kernel folder is made of; ``kernels.build`` writes it, and a folder's
build record turns back into one (``build.spec_from_folder``) for a rebuild or a fan-out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kagglekit.competition.definition import Competition
from kagglekit.core.config import TrainConfig
from kagglekit.core.errors import KagglekitError
from kagglekit.core.kaggle_paths import dataset_mount, model_mount


@dataclass(frozen=True)
class KernelSpec:
    """Everything a kernel folder is built from."""

    name: str  # the kernel's slug, also its title and the folder's name
    owner: str
    competition: Competition
    config: TrainConfig
    gpu: str | None = None  # machine shape, e.g. NvidiaTeslaT4; None = CPU
    internet: bool = False
    private: bool = True
    dataset_sources: tuple[str, ...] = ()
    model_sources: tuple[str, ...] = ()
    kernel_sources: tuple[str, ...] = ()  # earlier kernels whose output this one resumes from
    predict: bool = True  # write submission.csv after training (fold kernels of a fan-out do not)
    fan_out_of: str | None = None  # the kernel a fold kernel of a fan-out was made from
    predict_from: str | None = None  # an inference kernel: OWNER/SLUG of the trained folds it predicts with
    predict_from_kind: str = ""  # where those folds are: "kernel" (its output) or "dataset"
    notebook: bool = False  # an .ipynb notebook kernel (kernel_type notebook) instead of a script

    @property
    def code_file(self) -> str:
        """The kernel's one code file: <name>.ipynb or <name>.py."""
        return f"{self.name}.ipynb" if self.notebook else f"{self.name}.py"

    @property
    def id(self) -> str:
        return f"{self.owner}/{self.name}"


def default_kernel_name(comp: Competition, config: TrainConfig) -> str:
    """A kernel slug from the competition and the model, e.g. dogs-vs-cats-bn-cnn."""
    name = re.sub(r"[^a-z0-9]+", "-", f"{comp.slug}-{config.model}".lower()).strip("-")
    return name[:50].strip("-")


def default_predict_name(comp: Competition) -> str:
    """An inference kernel's slug, e.g. demo-digits-code-predict."""
    return f"{comp.slug[:42].strip('-')}-predict"


def predict_spec(name: str, owner: str, comp: Competition, config: TrainConfig, source: str, kind: str,
                 gpu: str | None = None, notebook: bool = False) -> KernelSpec:
    """An inference kernel: it trains nothing and predicts with the folds of SOURCE (a kernel's output or a
    dataset, attached as an input), on whatever test images the competition mounts when it runs."""
    if kind not in ("kernel", "dataset"):
        raise KagglekitError(f"--predict-from must name a kernel or a dataset, not a {kind}")
    return KernelSpec(name=name, owner=owner, competition=comp, config=config, gpu=gpu, internet=False,
                      kernel_sources=(source,) if kind == "kernel" else (),
                      dataset_sources=(source,) if kind == "dataset" else (),
                      predict_from=source, predict_from_kind=kind, notebook=notebook)


def source_mounts(spec: KernelSpec) -> dict[str, str]:
    """Attached source -> the folder Kaggle mounts it at inside the kernel."""
    return {**{h: model_mount(h) for h in spec.model_sources}, **{h: dataset_mount(h) for h in spec.dataset_sources}}
