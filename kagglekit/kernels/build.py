"""Kaggle kernels: the local project turned into a kernel folder, checked and written whole.

``build_kernel`` writes ``kernels/<name>/``:
  kernel-metadata.json   complete and explicit, checked with the kaggle client's own rules
  <name>.py or .ipynb    the one code file Kaggle runs, a script or (--notebook) a notebook:
                         kagglekit's whole package and the competition definition travel inside
                         it as a base64 zip, so it needs no pip install and no internet; it
                         trains and predicts with the settings it was built with (source.py
                         lays it out, entry.py says what it does there)
  kagglekit-kernel.json  the build settings, for `kernel push --folds-parallel` (never pushed:
                         the client sends only the code file and the metadata)
Credentials never enter the folder: the code file carries kagglekit's package
files and the competition definition, nothing else.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from kagglekit.core.atomic import write_json, write_text
from kagglekit.core.errors import KagglekitError
from kagglekit.kernels.accelerators import check_accelerator
from kagglekit.kernels.metadata import METADATA_FILE, check_metadata, check_name, kernel_metadata
from kagglekit.kernels.package import refuse_secrets
from kagglekit.kernels.source import kernel_code
from kagglekit.kernels.spec import KernelSpec, source_mounts

BUILD_FILE = "kagglekit-kernel.json"
KERNELS_DIR = Path("kernels")


def check_weights(spec: KernelSpec) -> None:
    """Refuse weights a kernel cannot read: a download without internet, or a file outside every attached source."""
    weights = spec.config.weights
    if weights in ("none", "", None):
        return
    if weights == "imagenet":
        if not spec.internet:
            raise KagglekitError(
                f"--weights imagenet downloads the weights, which a kernel without internet cannot; either build a "
                "training kernel with --internet (an inference kernel then predicts with its output, internet off), "
                f"or publish them with 'kagglekit upload-weights {spec.config.model} --model OWNER/NAME' and build "
                "with the --model-source and --weights it prints")
        return
    mounts = source_mounts(spec)
    if not any(weights.startswith(folder.rstrip("/") + "/") for folder in mounts.values()):
        where = "; ".join(f"{h} at {f}/" for h, f in mounts.items()) or "nothing is attached"
        raise KagglekitError(f"--weights {weights} is not inside an attached source, so the kernel cannot read it "
                             f"({where}); attach the weights with --model-source OWNER/MODEL/FRAMEWORK/VARIATION/"
                             "VERSION or --dataset OWNER/SLUG and give the file's path under its folder")


def build_kernel(spec: KernelSpec, out_root: Path = KERNELS_DIR) -> Path:
    """Write kernels/<name>/ (metadata checked first, files replaced atomically); return the folder."""
    check_name(spec.name)
    check_accelerator(spec.gpu)
    if spec.predict_from and spec.internet and spec.competition.is_code_competition:
        raise KagglekitError(f"{spec.competition.slug} reruns kernels with the internet off; build the inference "
                             "kernel without --internet")
    folder = Path(out_root) / spec.name
    if ".kaggle" in folder.resolve().parts:
        raise KagglekitError(f"refusing to write a kernel under {folder}: ~/.kaggle holds credentials")
    meta = kernel_metadata(spec)
    check_metadata(meta)  # the sources' handles first: check_weights reads them
    if not spec.predict_from:  # an inference kernel loads whole trained models, never backbone weights
        check_weights(spec)
    code = kernel_code(spec)
    refuse_secrets({"the kernel's code file": code.encode()})
    record = {"competition": spec.competition.slug, "competition_file": str(spec.competition.source),
              "spec": {k: v for k, v in dataclasses.asdict(spec).items() if k not in ("competition", "config")},
              "config": dataclasses.asdict(spec.config), "built": time.strftime("%Y-%m-%d %H:%M:%S")}
    folder.mkdir(parents=True, exist_ok=True)
    for stale in [*folder.glob("*.py"), *folder.glob("*.ipynb")]:  # a renamed kernel, or the other form of it,
        if stale.name != meta["code_file"]:  # leaves no second code file behind
            stale.unlink()
    write_text(folder / meta["code_file"], code)
    write_json(folder / METADATA_FILE, meta)
    write_json(folder / BUILD_FILE, record)
    check_metadata(meta, folder)
    return folder


def read_kernel_folder(folder: Path) -> tuple[dict, dict]:
    """(metadata, build record) of a folder that `kernel build` wrote."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / METADATA_FILE).read_text())
        record = json.loads((folder / BUILD_FILE).read_text())
    except FileNotFoundError:
        raise KagglekitError(f"{folder} is not a kernel folder that 'kagglekit kernel build' wrote; build it first") from None
    except ValueError as exc:
        raise KagglekitError(f"{folder} holds a damaged kernel file ({exc}); build it again with 'kagglekit kernel build'") from None
    return meta, record


def is_fold_kernel(folder: Path) -> bool:
    """True for a fold kernel of a fan-out (followed through the kernel it was made from)."""
    try:
        _, record = read_kernel_folder(folder)
    except KagglekitError:
        return False
    return bool((record.get("spec") or {}).get("fan_out_of"))


def spec_from_folder(folder: Path) -> KernelSpec:
    """The KernelSpec a kernel folder was built from (to rebuild it, or a fold of it)."""
    from kagglekit.competition.definition import load_competition_file
    from kagglekit.core.config import config_from_json

    _, record = read_kernel_folder(folder)
    known = {f.name for f in dataclasses.fields(KernelSpec)}
    saved = {k: v for k, v in record["spec"].items() if k in known}  # folders built by older versions
    for key in ("dataset_sources", "model_sources", "kernel_sources"):
        saved[key] = tuple(saved.get(key) or ())
    return KernelSpec(competition=load_competition_file(Path(record["competition_file"])),
                      config=config_from_json(record["config"]), **saved)
