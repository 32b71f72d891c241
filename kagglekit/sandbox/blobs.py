"""Uploaded blobs, the files of a dataset or model version they become, and the archives those are served as.

What the stock client sends to publish a folder (``kaggle datasets create`` /
``version``, ``kaggle models instances create`` / ``versions create``): one
StartBlobUpload per file, whose answer names the URL the bytes go to (the
same upload URLs a submission file uses, resumable: see the server's PUT),
then the create call with the upload tokens. Kaggle decompresses uploaded
zips (a folder sent with ``--dir-mode zip`` comes back as that folder); the
sandbox does the same. A version's files are kept whole in a folder of their
own; its download archive is built once, on first request, in the cache.
"""

from __future__ import annotations

import hashlib
import secrets
import shutil
import tarfile
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import formatdate
from pathlib import Path

from kagglesdk.blobs.types.blob_api_service import ApiStartBlobUploadRequest, ApiStartBlobUploadResponse

from kagglekit.core.atomic import atomic_folder, atomic_open
from kagglekit.core.errors import KagglekitError
from kagglekit.sandbox.routes import BLOBS, ApiError, Call, route

# Already-compressed members are stored, not deflated again.
STORED_SUFFIXES = {".zip", ".jpg", ".jpeg", ".png", ".gz", ".7z", ".keras", ".h5"}


@dataclass(frozen=True)
class Uploaded:
    """One uploaded file a create call names: its name, where its bytes are, its token."""

    name: str
    path: Path
    token: str


@route(BLOBS, "StartBlobUpload")
def start_blob_upload(call: Call):
    """Reserve an upload URL for one file of a dataset or model version about to be created."""
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


def uploaded(call: Call, files, what: str) -> list[Uploaded]:
    """The finished uploads a create request names (FILES: ApiDatasetNewFile items); WHAT names the version."""
    store = call.sandbox.store
    found = []
    for item in files or []:
        upload = store.data["uploads"].get(item.token or "")
        if not upload or not upload.get("blob") or upload["user"] != call.user or upload["received"] is None:
            raise ApiError(400, f"Invalid or unfinished upload token '{item.token}'; upload the file first")
        found.append(Uploaded(upload["file_name"], store.upload_path(item.token), item.token))
    if not found:
        raise ApiError(400, f"{what} needs at least one file")
    names = [Path(u.name).stem if u.name.lower().endswith(".zip") else u.name for u in found]
    if len(set(names)) != len(names):
        raise ApiError(400, "Path must be unique")
    return found


def store_files(call: Call, folder: Path, files: list[Uploaded]) -> list[str]:
    """Keep FILES in FOLDER (zips decompressed into folders of their name), consume their tokens; the paths held."""
    from kagglekit.core.archive import extract_once

    try:
        with atomic_folder(folder) as partial:
            for item in files:
                if item.name.lower().endswith(".zip"):
                    extract_once(item.path, partial / Path(item.name).stem)
                else:
                    shutil.copyfile(item.path, partial / item.name)
    except KagglekitError as exc:  # a damaged or unsafe archive
        raise ApiError(400, f"Could not decompress the upload: {exc}") from None
    with call.sandbox.store.change() as data:
        for item in files:
            data["uploads"].pop(item.token, None)
            item.path.unlink(missing_ok=True)
    return held_files(folder)


def held_files(folder: Path) -> list[str]:
    """The relative POSIX paths of the files under FOLDER, sorted."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []


def total_bytes(folder: Path, names: list[str]) -> int:
    return sum((folder / name).stat().st_size for name in names if (folder / name).is_file())


def archive(folder: Path, names: list[str], target: Path) -> Path:
    """TARGET (a .zip, or a .tar.gz as Kaggle serves a model) holding NAMES from FOLDER, built once, atomically."""
    if target.is_file():
        return target
    with atomic_open(target, "wb") as fh:
        if target.name.endswith(".tar.gz"):
            with tarfile.open(fileobj=fh, mode="w:gz") as tf:
                for name in names:
                    tf.add(folder / name, name)
        else:
            with zipfile.ZipFile(fh, "w") as zf:
                for name in names:
                    method = zipfile.ZIP_STORED if Path(name).suffix.lower() in STORED_SUFFIXES else zipfile.ZIP_DEFLATED
                    zf.write(folder / name, name, compress_type=method)
    return target


def identity(key: str, created: str) -> tuple[str, str]:
    """(ETag, Last-Modified) of an immutable version KEY made at CREATED (ISO, UTC): a resume checks them."""
    stamp = datetime.fromisoformat(created).replace(tzinfo=timezone.utc).timestamp()
    return hashlib.sha1(f"{key}\0{created}".encode()).hexdigest()[:20], formatdate(stamp, usegmt=True)


def record_id(ref: str) -> int:
    """A stable positive id for REF (Kaggle's records carry numeric ids; the sandbox derives them from the ref)."""
    return int(hashlib.sha1(ref.encode()).hexdigest()[:7], 16)
