"""kernel-metadata.json: every field written out, and checked with the kaggle client's own rules before a push.

The client's defaults are not its docs' (``enable_internet`` defaults to true), so kagglekit writes every
field; ``check_metadata`` makes the checks ``kaggle kernels push`` makes, with the client's own code, and
the ones its warnings call for (a title that is the slug, a known accelerator).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from kagglekit.core.errors import KagglekitError
from kagglekit.core.refs import check_slug
from kagglekit.kernels.accelerators import ACCELERATORS
from kagglekit.kernels.spec import KernelSpec

METADATA_FILE = "kernel-metadata.json"


def check_name(name: str) -> None:
    """Refuse a kernel name Kaggle would turn into a different slug."""
    check_slug(name, "kernel", f"kernel name '{name}' (the kernel's slug and title)", "dogs-vs-cats-bn-cnn")


def kernel_metadata(spec: KernelSpec) -> dict:
    """kernel-metadata.json with every field written out (the client's defaults are not the docs')."""
    return {
        "id": spec.id,
        "title": spec.name,
        "code_file": spec.code_file,
        "language": "python",
        "kernel_type": "notebook" if spec.notebook else "script",
        "is_private": spec.private,
        "enable_gpu": bool(spec.gpu) and not spec.gpu.startswith("Tpu"),
        "enable_tpu": bool(spec.gpu) and spec.gpu.startswith("Tpu"),
        "enable_internet": spec.internet,
        "machine_shape": spec.gpu or "",
        "competition_sources": [spec.competition.slug],
        "dataset_sources": list(spec.dataset_sources),
        "kernel_sources": list(spec.kernel_sources),
        "model_sources": list(spec.model_sources),
        "keywords": [],
        "docker_image_pinning_type": "original",
    }


def offline_client():
    """The kaggle client's KaggleApi, unauthenticated: only its checks are used here."""
    with contextlib.redirect_stdout(io.StringIO()):  # importing it prints auth help when no credentials exist
        from kaggle.api.kaggle_api_extended import KaggleApi

        return KaggleApi()


def check_metadata(meta: dict, folder: Path | None = None) -> None:
    """The checks `kaggle kernels push` makes before sending (with the client's own code), plus the ones
    its warnings and defaults call for: a title that is the slug, booleans written out, a known accelerator."""
    from slugify import slugify  # the client's slug rule

    def bad(what: str):
        raise KagglekitError(f"kernel-metadata.json: {what}")

    client = offline_client()
    owner, _, slug = str(meta.get("id", "")).partition("/")
    if not owner or not slug or "/" in slug:
        bad(f"id '{meta.get('id')}' must be owner/slug; pass --owner or set up Kaggle credentials")
    title = meta.get("title") or ""
    if len(title) < 5:
        bad(f"title '{title}' must be at least 5 characters")
    if slugify(title) != slug:
        bad(f"title '{title}' must turn into the slug '{slug}' (Kaggle would give the kernel another URL)")
    if meta.get("language") not in client.valid_push_language_types or \
            meta.get("kernel_type") not in client.valid_push_kernel_types:
        bad("language must be python and kernel_type script or notebook")
    suffix = ".ipynb" if meta.get("kernel_type") == "notebook" else ".py"
    if not str(meta.get("code_file", "")).endswith(suffix):
        bad(f"code_file {meta.get('code_file')} must end in {suffix} for a {meta.get('kernel_type')} kernel")
    for key in ("is_private", "enable_gpu", "enable_tpu", "enable_internet"):
        if not isinstance(meta.get(key), bool):
            bad(f"{key} must be written out as true or false (the client's default for enable_internet is true)")
    shape = meta.get("machine_shape") or ""
    if shape and shape not in ACCELERATORS:
        bad(f"machine_shape '{shape}' is not a known accelerator; valid: {', '.join(ACCELERATORS)}")
    pinning = meta.get("docker_image_pinning_type")
    if pinning is not None and pinning not in client.valid_push_pinning_types:
        bad(f"docker_image_pinning_type must be one of {', '.join(client.valid_push_pinning_types)}")
    checks = [(client.validate_dataset_string, meta.get("dataset_sources", [])),
              (client.validate_kernel_string, meta.get("kernel_sources", [])),
              (client.validate_model_instance_version_string, meta.get("model_sources", []))]
    for check, sources in checks:
        for source in sources:
            try:
                check(source)
            except ValueError as exc:
                bad(f"source '{source}': {exc}")
    if folder is not None and not (Path(folder) / meta.get("code_file", "")).is_file():
        bad(f"code_file {meta.get('code_file')} is not in {folder}")
