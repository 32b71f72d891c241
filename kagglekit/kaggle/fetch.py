"""Fetch a competition's files (all of them, or some), through the official kaggle client.

Everything goes through ``KaggleApi`` (no HTTP of our own), so the same code
talks to Kaggle and to ``kagglekit sandbox``; every call goes through
kagglekit.kaggle.competition_call (timeouts, retries, one-line errors, what a
failure means for the competition). Downloads are idempotent and never leave a
partial file where the catalog would take it for complete.

Credentials stay inside the client: nothing here reads, prints, logs or
writes them.
"""

from __future__ import annotations

import contextlib
import fnmatch
import io
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from kagglekit.competition.definition import Competition
from kagglekit.core.atomic import write_json
from kagglekit.core.errors import KagglekitError
from kagglekit.kaggle.competition_call import competition_call
from kagglekit.kaggle.remote import RetryPolicy, connect, download_timeout

# Written last by fetch: its presence says the data folder holds a complete download.
FETCH_MARKER = ".kagglekit-fetch.json"
# Downloads in progress live here, out of the catalog's sight, until they are complete.
STAGING = ".download"
DOWNLOAD_CHUNK = 64 * 1024


@dataclass(frozen=True)
class FetchResult:
    """What fetch did."""

    slug: str
    data_dir: Path
    downloaded: bool  # False: the folder was already up to date
    size: int | None  # bytes of the competition's download
    resumed_from: int = 0  # bytes an interrupted earlier run had already received
    unpacked: tuple[str, ...] = ()  # nested archives extracted beside themselves



# -- the whole competition -------------------------------------------------------------------

def fetch_competition(comp: Competition, data_dir: Path, force: bool = False, progress: bool = False,
                      retry: RetryPolicy | None = None) -> FetchResult:
    """Download the competition's files into DATA_DIR and unpack them; a no-op when already up to date.

    The download goes to DATA_DIR/.download/ and is unpacked only once
    complete; an interrupted one is resumed by the next call (with Range
    requests, by the client, which checks that the bytes kept belong to the
    same remote file). FORCE downloads and unpacks again even when DATA_DIR is
    up to date; a forced download cut off partway resumes like any other.
    """
    policy = retry or RetryPolicy.from_env()
    data_dir = Path(data_dir)
    staging = data_dir / STAGING / f"{comp.slug}.zip"
    api = connect()
    outcome = competition_call(lambda: _download(api, comp, data_dir, staging, force, progress),
                    comp, "download the files", policy, staging)
    if outcome is None:
        return FetchResult(comp.slug, data_dir, downloaded=False, size=read_marker(data_dir)["identity"]["size"])
    identity, resumed_from = outcome
    entries = _unpack(comp, data_dir, staging)
    _write_marker(data_dir, {"competition": comp.slug, "identity": identity, "entries": entries})
    shutil.rmtree(data_dir / STAGING, ignore_errors=True)
    return FetchResult(comp.slug, data_dir, True, identity["size"], resumed_from, tuple(comp.files.unpack))


def _save_response(api, kaggle, response, path: Path, progress: bool) -> None:
    """Write a download RESPONSE to PATH through the client, resuming a partial file with Range.

    max_retries=0: retries and their backoff are ours (competition_call). Small chunks: a broken connection loses
    at most one chunk of what already arrived. The client's progress bar goes to stderr; its chatter on stdout
    ("failed after 0 retries") would mislead, so it is dropped.
    """
    with contextlib.redirect_stdout(io.StringIO()):
        api.download_file(response, str(path), kaggle.http_client(), quiet=not progress,
                          resume=True, chunk_size=DOWNLOAD_CHUNK, max_retries=0, timeout=download_timeout())


def _download(api, comp: Competition, data_dir: Path, staging: Path, force: bool, progress: bool):
    """One try: (identity of the remote file, bytes resumed), or None when DATA_DIR already has it."""
    from kagglesdk.competitions.types.competition_api_service import ApiDownloadDataFilesRequest

    request = ApiDownloadDataFilesRequest()
    request.competition_name = comp.slug
    with api.build_kaggle_client() as kaggle:
        response = kaggle.competitions.competition_api_client.download_data_files(request)
        try:
            length = response.headers.get("Content-Length")
            identity = {"size": int(length) if length else None, "etag": response.headers.get("ETag"),
                        "last_modified": response.headers.get("Last-Modified")}
            if not force and _up_to_date(comp, data_dir, identity):
                return None
            # The client keeps a sidecar marker beside a partial file it can resume.
            resumed = staging.stat().st_size if Path(f"{staging}.kaggle-partial").is_file() and staging.is_file() else 0
            staging.parent.mkdir(parents=True, exist_ok=True)
            _save_response(api, kaggle, response, staging, progress)
        finally:
            response.close()
    return identity, resumed


def read_marker(data_dir: Path) -> dict | None:
    """What fetch recorded about DATA_DIR's download (its identity, its top-level entries), or None."""
    try:
        return json.loads((data_dir / FETCH_MARKER).read_text())
    except (OSError, ValueError):
        return None


def _write_marker(data_dir: Path, content: dict) -> None:
    write_json(data_dir / FETCH_MARKER, content)


def _up_to_date(comp: Competition, data_dir: Path, identity: dict) -> bool:
    """True when DATA_DIR holds, complete and unpacked, the download that IDENTITY describes."""
    marker = read_marker(data_dir)
    if not marker or marker.get("identity") != identity or not (identity["etag"] or identity["last_modified"]):
        return False
    return (all((data_dir / entry).exists() for entry in marker["entries"])
            and all((data_dir / Path(name).stem).is_dir() for name in comp.files.unpack))


def _unpack(comp: Competition, data_dir: Path, staging: Path) -> list[str]:
    """Move the download's contents into DATA_DIR, then extract the nested archives; the top-level names."""
    from kagglekit.core.archive import extract_once

    unpacked = data_dir / STAGING / "unpacked"
    shutil.rmtree(unpacked, ignore_errors=True)
    try:
        extract_once(staging, unpacked)  # refuses damaged archives and unsafe or outsized entries, naming the first
    except KagglekitError as exc:  # resuming these bytes would only give the same archive again
        shutil.rmtree(data_dir / STAGING, ignore_errors=True)
        raise KagglekitError(f"{exc} (the download was deleted: run the same command again to download it afresh)") \
            from None
    entries = sorted(p.name for p in unpacked.iterdir())
    for name in entries:
        _replace(unpacked / name, data_dir / name)
    for name in comp.files.unpack:
        archive = data_dir / name
        if not archive.is_file():
            raise KagglekitError(f"the download of {comp.slug} has no {name}, which {comp.source} lists in "
                                 "files.unpack; fix the competition definition")
        target = data_dir / Path(name).stem
        shutil.rmtree(target, ignore_errors=True)  # unpacked from an older download
        extract_once(archive, target)
    return entries


def _replace(src: Path, dst: Path) -> None:
    if dst.is_dir() and not dst.is_symlink():
        shutil.rmtree(dst)
    elif dst.exists() or dst.is_symlink():
        dst.unlink()
    os.replace(src, dst)


# -- some files only ---------------------------------------------------------------

@dataclass(frozen=True)
class FileFetch:
    """One competition file that fetch_files brought, or found already there."""

    name: str
    path: Path
    size: int
    downloaded: bool  # False: the file was already there with Kaggle's size


def competition_files(api, comp: Competition, policy: RetryPolicy) -> list:
    """The competition's files as Kaggle lists them (every page)."""
    files, token = [], None
    while True:
        page = competition_call(lambda t=token: api.competition_list_files(comp.slug, page_token=t, page_size=200), comp,
                     "list the files", policy)
        files += [f for f in (page.files if page else None) or [] if f and f.name]
        token = page.next_page_token if page else None
        if not token:
            return files


def fetch_files(comp: Competition, names: list[str], data_dir: Path, force: bool = False, progress: bool = False,
                retry: RetryPolicy | None = None) -> list[FileFetch]:
    """Only the files NAMES (names or globs, e.g. '*.csv') of the competition into DATA_DIR, each as Kaggle lists it.

    A file already there with the size Kaggle lists is kept (FORCE downloads it again). Each arrives in
    DATA_DIR/.download/ first and replaces the one in DATA_DIR only when complete; a large file Kaggle
    serves zipped (NAME.zip) is unzipped; a file the definition lists under files.unpack is unpacked.
    """
    policy = retry or RetryPolicy.from_env()
    data_dir = Path(data_dir)
    api = connect()
    listed = competition_files(api, comp, policy)
    chosen: dict[str, object] = {}
    for name in names:
        matched = [f for f in listed if f.name == name or fnmatch.fnmatchcase(f.name, name)]
        if not matched:
            known = ", ".join(f.name for f in listed[:20]) + (" ..." if len(listed) > 20 else "")
            raise KagglekitError(f"{comp.slug} has no file matching '{name}'; its files: {known or 'none'}")
        chosen.update((f.name, f) for f in matched)
    return [_fetch_one(api, comp, item, data_dir, force, progress, policy) for item in chosen.values()]


def _fetch_one(api, comp: Competition, item, data_dir: Path, force: bool, progress: bool,
               policy: RetryPolicy) -> FileFetch:
    from kagglekit.core.archive import extract_once

    target = _inside(data_dir, item.name)
    if not force and target.is_file() and item.total_bytes and target.stat().st_size == item.total_bytes:
        return FileFetch(item.name, target, target.stat().st_size, False)
    staging = _inside(data_dir / STAGING / "files", item.name)
    served = competition_call(lambda: _download_file(api, comp, item.name, staging, progress), comp,
                   f"download {item.name}", policy, staging)
    target.parent.mkdir(parents=True, exist_ok=True)
    if served.name == f"{staging.name}.zip":  # Kaggle zips a large file: take the file out of it
        unzipped = served.with_name(f".{served.name}.unzipped")
        shutil.rmtree(unzipped, ignore_errors=True)  # left by an interrupted run
        extract_once(served, unzipped)
        inside = [p for p in unzipped.rglob("*") if p.is_file()]
        if len(inside) != 1:
            raise KagglekitError(f"Kaggle sent {item.name} as a zip of {len(inside)} files, not the file alone; "
                                 f"download the whole competition with 'kagglekit fetch'")
        _replace(inside[0], target)
        shutil.rmtree(unzipped, ignore_errors=True)
        served.unlink()
    else:
        _replace(served, target)
    if item.name in comp.files.unpack:
        folder = data_dir / Path(item.name).stem
        shutil.rmtree(folder, ignore_errors=True)  # unpacked from an older copy
        extract_once(target, folder)
    return FileFetch(item.name, target, target.stat().st_size, True)


def _inside(folder: Path, name: str) -> Path:
    """FOLDER/NAME, refusing a name (it comes from Kaggle's listing) that would land outside FOLDER."""
    path = (folder / name).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise KagglekitError(f"refusing the competition file '{name}': it would land outside {folder}")
    return folder / name


def _download_file(api, comp: Competition, name: str, staging: Path, progress: bool) -> Path:
    """One try: the file NAME into STAGING's folder, under the name Kaggle serves it as (NAME or NAME.zip)."""
    from urllib.parse import unquote

    from kagglesdk.competitions.types.competition_api_service import ApiDownloadDataFileRequest

    request = ApiDownloadDataFileRequest()
    request.competition_name, request.file_name = comp.slug, name
    with api.build_kaggle_client() as kaggle:
        response = kaggle.competitions.competition_api_client.download_data_file(request)
        try:
            served_as = unquote(response.url.split("?")[0].rsplit("/", 1)[-1])
            served = staging.with_name(served_as if served_as in (staging.name, f"{staging.name}.zip") else staging.name)
            served.parent.mkdir(parents=True, exist_ok=True)
            _save_response(api, kaggle, response, served, progress)
        finally:
            response.close()
    return served
