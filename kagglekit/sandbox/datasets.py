"""Handlers of ``datasets.DatasetApiService`` and ``blobs.BlobApiService``: private datasets and their versions.

What the stock client sends for ``kaggle datasets create`` / ``version``
(``KaggleApi.dataset_create_new`` / ``dataset_create_version``): one
StartBlobUpload per file, whose answer names the URL the bytes go to (the
same upload URLs a submission file uses), then CreateDataset or
CreateDatasetVersion with the upload tokens. GetDatasetStatus says whether a
dataset exists (404 when not: that is how dataset_create_new tells a new slug)
and GetDataset its current version.

Kaggle decompresses uploaded archives (a folder sent with ``--dir-mode zip``
comes back as that folder); the sandbox does the same for zips. Each version
is kept whole under ``<state>/datasets/<owner>/<slug>/<N>/``. A kernel that
lists a dataset in its dataset_sources gets the version that was current when
it was pushed (or the one it names, ``owner/slug/N``) under ``input/<slug>/``,
as read-only links.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from datetime import datetime
from pathlib import Path

from kagglesdk.blobs.types.blob_api_service import ApiStartBlobUploadRequest, ApiStartBlobUploadResponse
from kagglesdk.datasets.types import dataset_api_service as api
from kagglesdk.datasets.types.dataset_enums import DatabundleVersionStatus

from kagglekit.core.atomic import atomic_folder
from kagglekit.core.errors import KagglekitError
from kagglekit.sandbox.routes import BLOBS, DATASETS, ApiError, Call, route
from kagglekit.sandbox.store import utc_now

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{4,48}[a-z0-9]$")


def _datasets(data: dict) -> dict:
    return data.setdefault("datasets", {})


def version_dir(sandbox, ref: str, number: int) -> Path:
    """Where version NUMBER of dataset REF (owner/slug) keeps its files."""
    return sandbox.state_dir / "datasets" / ref / str(number)


def _visible(call: Call, owner: str, slug: str) -> tuple[str, dict]:
    """The dataset owner/slug, if the caller may see it (its owner, or anyone when public); else 404 as Kaggle says."""
    ref = f"{owner}/{slug}"
    dataset = _datasets(call.sandbox.store.data).get(ref)
    if dataset is None or (dataset["is_private"] and owner != call.user):
        raise ApiError(404, f"Dataset {ref} not found")
    return ref, dataset


# -- uploads -----------------------------------------------------------------------

@route(BLOBS, "StartBlobUpload")
def start_blob_upload(call: Call):
    """Reserve an upload URL for one file of a dataset (or model) about to be created."""
    req = ApiStartBlobUploadRequest.from_dict(call.body)
    name = Path(req.name or "").name
    if not name or name in (".", ".."):
        raise ApiError(400, "the blob needs a file name")
    token = secrets.token_urlsafe(18)
    with call.sandbox.store.change() as data:
        data["uploads"][token] = {"competition": None, "blob": True, "user": call.user, "file_name": name,
                                  "content_length": req.content_length, "received": None}
    answer = ApiStartBlobUploadResponse()
    answer.token = token
    answer.create_url = f"{call.base_url}/sandbox/uploads/{token}"
    return answer


def _uploaded(call: Call, files) -> list[tuple[str, Path, str]]:
    """(file name, where its bytes are, token) of each uploaded file a create request names."""
    store = call.sandbox.store
    found = []
    for item in files or []:
        upload = store.data["uploads"].get(item.token or "")
        if not upload or not upload.get("blob") or upload["user"] != call.user or not upload["received"]:
            raise ApiError(400, f"Invalid or unfinished upload token '{item.token}'; upload the file first")
        found.append((upload["file_name"], store.upload_path(item.token), item.token))
    if not found:
        raise ApiError(400, "A dataset version needs at least one file")
    names = [Path(n).stem if n.lower().endswith(".zip") else n for n, _, _ in found]
    if len(set(names)) != len(names):
        raise ApiError(400, "Path must be unique")
    return found


def _write_version(call: Call, ref: str, number: int, files: list[tuple[str, Path, str]]) -> list[str]:
    """Store a version's files, zips decompressed into folders of their name; the paths it holds."""
    from kagglekit.core.archive import extract_once

    folder = version_dir(call.sandbox, ref, number)
    try:
        with atomic_folder(folder) as partial:
            for name, path, _ in files:
                if name.lower().endswith(".zip"):
                    extract_once(path, partial / Path(name).stem)
                else:
                    shutil.copyfile(path, partial / name)
    except KagglekitError as exc:  # a damaged or unsafe archive
        raise ApiError(400, f"Could not decompress the upload: {exc}") from None
    with call.sandbox.store.change() as data:
        for _, path, token in files:
            data["uploads"].pop(token, None)
            path.unlink(missing_ok=True)
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _answer(call: Call, ref: str) -> api.ApiCreateDatasetResponse:
    answer = api.ApiCreateDatasetResponse()
    answer.ref = ref
    answer.url = f"{call.base_url}/datasets/{ref}"
    answer.status = "ok"
    return answer


# -- create, version ----------------------------------------------------------------

@route(DATASETS, "CreateDataset")
def create_dataset(call: Call):
    req = api.ApiCreateDatasetRequest.from_dict(call.body)
    owner, slug = req.owner_slug or call.user, req.slug or ""
    if owner != call.user:
        raise ApiError(403, f"you ({call.user}) cannot create a dataset for {owner}")
    if not _SLUG.match(slug) or "--" in slug:
        raise ApiError(400, f"Invalid dataset slug '{slug}': 6 to 50 lowercase letters, digits and single hyphens")
    ref = f"{owner}/{slug}"
    if ref in _datasets(call.sandbox.store.data):
        answer = api.ApiCreateDatasetResponse()
        answer.status, answer.error = "error", f'The requested slug "{slug}" is already in use by a dataset.'
        return answer
    files = _uploaded(call, req.files)
    held = _write_version(call, ref, 1, files)
    with call.sandbox.store.change() as data:
        _datasets(data)[ref] = {"title": req.title or slug, "is_private": bool(req.is_private),
                                "license": req.license_name or "", "versions": [_version(1, "", held)]}
    return _answer(call, ref)


@route(DATASETS, "CreateDatasetVersion")
def create_dataset_version(call: Call):
    req = api.ApiCreateDatasetVersionRequest.from_dict(call.body)
    ref, dataset = _visible(call, req.owner_slug, req.dataset_slug)
    if req.owner_slug != call.user:
        raise ApiError(403, f"you ({call.user}) cannot add a version to {ref}")
    files = _uploaded(call, req.body.files if req.body else [])
    number = len(dataset["versions"]) + 1
    held = _write_version(call, ref, number, files)
    with call.sandbox.store.change() as data:
        _datasets(data)[ref]["versions"].append(_version(number, (req.body.version_notes if req.body else "") or "", held))
    return _answer(call, ref)


def _version(number: int, notes: str, files: list[str]) -> dict:
    return {"number": number, "created": utc_now().isoformat(), "notes": notes, "files": files}


# -- reading -----------------------------------------------------------------------

@route(DATASETS, "GetDatasetStatus")
def get_dataset_status(call: Call):
    req = api.ApiGetDatasetStatusRequest.from_dict(call.body)
    _visible(call, req.owner_slug, req.dataset_slug)
    answer = api.ApiGetDatasetStatusResponse()
    answer.status = DatabundleVersionStatus.READY  # versions are complete when their create call returns
    return answer


@route(DATASETS, "GetDataset")
def get_dataset(call: Call):
    req = api.ApiGetDatasetRequest.from_dict(call.body)
    ref, dataset = _visible(call, req.owner_slug, req.dataset_slug)
    latest = dataset["versions"][-1]
    folder = version_dir(call.sandbox, ref, latest["number"])
    answer = api.ApiDataset()
    answer.ref, answer.title, answer.is_private = ref, dataset["title"], dataset["is_private"]
    answer.url = f"{call.base_url}/datasets/{ref}"
    answer.owner_name = answer.owner_ref = answer.creator_name = req.owner_slug
    answer.license_name = dataset["license"]
    answer.current_version_number = latest["number"]
    answer.last_updated = datetime.fromisoformat(latest["created"])
    answer.total_bytes = sum((folder / name).stat().st_size for name in latest["files"] if (folder / name).is_file())
    return answer


# -- kernels -----------------------------------------------------------------------

def attach(call: Call, sources: list[str]) -> tuple[list[list], list[str]]:
    """(attached [owner/slug, version] pairs, the sources that are not datasets the caller can use)."""
    attached, invalid = [], []
    for source in sources:
        parts = source.split("/")
        try:
            ref, dataset = _visible(call, parts[0], parts[1] if len(parts) > 1 else "")
        except ApiError:
            invalid.append(source)
            continue
        wanted = parts[2] if len(parts) > 2 else None
        numbers = [v["number"] for v in dataset["versions"]]
        if wanted is not None and (not wanted.isdigit() or int(wanted) not in numbers):
            invalid.append(source)
            continue
        attached.append([ref, int(wanted) if wanted else numbers[-1]])
    return attached, invalid


def mount(sandbox, attached: list[list], inputs: Path) -> None:
    """Link each attached dataset version's files under INPUTS/<slug>/, as Kaggle mounts dataset_sources."""
    for ref, number in attached:
        shutil.copytree(version_dir(sandbox, ref, number), inputs / ref.split("/")[1], dirs_exist_ok=True,
                        copy_function=lambda src, dst: os.symlink(os.path.realpath(src), dst))
