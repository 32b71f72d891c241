"""Handlers of ``datasets.DatasetApiService``: private datasets, their versions, listings and downloads.

``kaggle datasets create`` / ``version`` upload each file (kagglekit.sandbox.blobs),
then send CreateDataset / CreateDatasetVersion with the tokens; ``version -d``
(``delete_old_versions``) deletes every earlier version, as on Kaggle, and the
numbers go on from the last one. GetDatasetStatus says whether a dataset exists
(404 when not: that is how dataset_create_new tells a new slug), GetDataset its
current version. ``datasets list`` (ListDatasets: public, ``--mine``,
``--user``, ``--search``, sorted and paged), ``files``, ``metadata``,
``download`` (the whole version as ``<slug>.zip``, or one file with ``-f``;
both resumable with Range requests, as competition downloads are) and
``delete`` answer from the same records.

Each version is kept whole under ``<state>/datasets/<owner>/<slug>/<N>/``. A
kernel that lists a dataset in its dataset_sources gets the version that was
current when it was pushed (or the one it names, ``owner/slug/N``) under
``input/<slug>/``, as read-only links.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import quote, unquote

from kagglesdk.datasets.types import dataset_api_service as api
from kagglesdk.datasets.types.dataset_enums import (
    DatabundleVersionStatus, DatasetFileTypeGroup, DatasetLicenseGroup, DatasetSelectionGroup, DatasetSortBy,
)
from kagglesdk.datasets.types.dataset_types import DatasetInfo, DatasetSettingsFile, SettingsLicense

from kagglekit.sandbox.blobs import archive, identity, record_id, store_files, total_bytes, uploaded
from kagglekit.sandbox.box import link_tree
from kagglekit.sandbox.routes import DATASETS, SITE, ApiError, Call, Download, Redirect, download, route
from kagglekit.sandbox.store import utc_now

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{4,48}[a-z0-9]$")
SECTION = "datasets"
MAX_PAGE = 100


@dataclass
class DatasetVersion:
    """One version of a dataset: its number, when it was made, its notes and the files it holds."""

    number: int
    created: str  # ISO time, UTC
    notes: str = ""
    files: list[str] = field(default_factory=list)  # relative POSIX paths


@dataclass
class Dataset:
    """A dataset as the sandbox keeps it (state.json, section "datasets", keyed by owner/slug)."""

    title: str
    is_private: bool = True
    license: str = ""
    subtitle: str = ""
    description: str = ""
    keywords: list[str] = field(default_factory=list)
    versions: list[DatasetVersion] = field(default_factory=list)

    @property
    def latest(self) -> DatasetVersion:
        return self.versions[-1]

    def version(self, number: int | None) -> DatasetVersion | None:
        """Version NUMBER (the latest for None or 0, what a request without a version carries), or None when there
        is no such version."""
        if not number:
            return self.latest
        return next((v for v in self.versions if v.number == number), None)


def version_dir(sandbox, ref: str, number: int) -> Path:
    """Where version NUMBER of dataset REF (owner/slug) keeps its files."""
    return sandbox.state_dir / "datasets" / ref / str(number)


def _all(call_or_sandbox) -> dict[str, Dataset]:
    sandbox = getattr(call_or_sandbox, "sandbox", call_or_sandbox)
    return sandbox.store.records(SECTION, Dataset)


def _can_see(user: str | None, ref: str, dataset: Dataset) -> bool:
    return not dataset.is_private or ref.split("/")[0] == user


def _visible(call: Call, owner: str, slug: str) -> tuple[str, Dataset]:
    """The dataset owner/slug, if the caller may see it (its owner, or anyone when public); else 404 as Kaggle says."""
    ref = f"{owner}/{slug}"
    dataset = _all(call).get(ref)
    if dataset is None or not _can_see(call.user, ref, dataset):
        raise ApiError(404, f"Dataset {ref} not found")
    return ref, dataset


def _owned(call: Call, owner: str, slug: str, action: str) -> tuple[str, Dataset]:
    ref, dataset = _visible(call, owner, slug)
    if owner != call.user:
        raise ApiError(403, f"you ({call.user}) cannot {action} {ref}")
    return ref, dataset


def _version_of(ref: str, dataset: Dataset, number: int | None) -> DatasetVersion:
    found = dataset.version(number)
    if found is None:
        raise ApiError(404, f"Dataset {ref} has no version {number}")
    return found


def _url(ref: str) -> str:
    return f"{SITE}/datasets/{ref}"


# -- create, version, delete ----------------------------------------------------------

def _answer(ref: str) -> api.ApiCreateDatasetResponse:
    answer = api.ApiCreateDatasetResponse()
    answer.ref = ref
    answer.url = _url(ref)
    answer.status = "ok"
    return answer


@route(DATASETS, "CreateDataset")
def create_dataset(call: Call):
    req = api.ApiCreateDatasetRequest.from_dict(call.body)
    owner, slug = req.owner_slug or call.user, req.slug or ""
    if owner != call.user:
        raise ApiError(403, f"you ({call.user}) cannot create a dataset for {owner}")
    if not _SLUG.match(slug) or "--" in slug:
        raise ApiError(400, f"Invalid dataset slug '{slug}': 6 to 50 lowercase letters, digits and single hyphens")
    ref = f"{owner}/{slug}"
    if ref in _all(call):
        answer = api.ApiCreateDatasetResponse()
        answer.status, answer.error = "error", f'The requested slug "{slug}" is already in use by a dataset.'
        return answer
    files = uploaded(call, req.files, "A dataset version")
    held = store_files(call, version_dir(call.sandbox, ref, 1), files)
    with call.sandbox.store.change_records(SECTION, Dataset) as datasets:
        datasets[ref] = Dataset(title=req.title or slug, is_private=bool(req.is_private), license=req.license_name or "",
                                subtitle=req.subtitle or "", description=req.description or "",
                                keywords=list(req.category_ids or []),
                                versions=[DatasetVersion(1, utc_now().isoformat(), "", held)])
    return _answer(ref)


def _new_version(call: Call, ref: str, dataset: Dataset, body) -> api.ApiCreateDatasetResponse:
    files = uploaded(call, body.files if body else [], "A dataset version")
    number = dataset.latest.number + 1  # numbers go on after deleted versions, as on Kaggle
    held = store_files(call, version_dir(call.sandbox, ref, number), files)
    with call.sandbox.store.change_records(SECTION, Dataset) as datasets:
        kept = datasets[ref]
        old = [v.number for v in kept.versions] if body and body.delete_old_versions else []
        kept.versions = [v for v in kept.versions if v.number not in old]
        kept.versions.append(DatasetVersion(number, utc_now().isoformat(), (body.version_notes if body else "") or "", held))
        if body and body.subtitle:
            kept.subtitle = body.subtitle
        if body and body.description:
            kept.description = body.description
    for gone in old:  # after the record: a crash between the two leaves files no record points to, never the reverse
        shutil.rmtree(version_dir(call.sandbox, ref, gone), ignore_errors=True)
    return _answer(ref)


@route(DATASETS, "CreateDatasetVersion")
def create_dataset_version(call: Call):
    req = api.ApiCreateDatasetVersionRequest.from_dict(call.body)
    ref, dataset = _owned(call, req.owner_slug, req.dataset_slug, "add a version to")
    return _new_version(call, ref, dataset, req.body)


@route(DATASETS, "CreateDatasetVersionById")
def create_dataset_version_by_id(call: Call):
    """The same as CreateDatasetVersion, for a dataset-metadata.json that names the dataset by id_no."""
    req = api.ApiCreateDatasetVersionByIdRequest.from_dict(call.body)
    found = [ref for ref, d in _all(call).items() if record_id(ref) == req.id and _can_see(call.user, ref, d)]
    if not found:
        raise ApiError(404, f"Dataset {req.id} not found")
    ref, dataset = _owned(call, *found[0].split("/"), "add a version to")
    return _new_version(call, ref, dataset, req.body)


@route(DATASETS, "DeleteDataset")
def delete_dataset(call: Call):
    req = api.ApiDeleteDatasetRequest.from_dict(call.body)
    ref, _ = _owned(call, req.owner_slug, req.dataset_slug, "delete")
    with call.sandbox.store.change_records(SECTION, Dataset) as datasets:
        del datasets[ref]
    shutil.rmtree(call.sandbox.state_dir / "datasets" / ref, ignore_errors=True)
    return api.ApiDeleteDatasetResponse()


# -- reading -----------------------------------------------------------------------

@route(DATASETS, "GetDatasetStatus")
def get_dataset_status(call: Call):
    req = api.ApiGetDatasetStatusRequest.from_dict(call.body)
    _visible(call, req.owner_slug, req.dataset_slug)
    answer = api.ApiGetDatasetStatusResponse()
    answer.status = DatabundleVersionStatus.READY  # versions are complete when their create call returns
    return answer


def _as_api_dataset(sandbox, ref: str, dataset: Dataset) -> api.ApiDataset:
    latest = dataset.latest
    out = api.ApiDataset()
    out.id = record_id(ref)
    out.ref, out.title, out.is_private, out.url = ref, dataset.title, dataset.is_private, _url(ref)
    out.subtitle, out.description = dataset.subtitle, dataset.description
    out.owner_name = out.owner_ref = out.creator_name = ref.split("/")[0]
    out.creator_url = f"{SITE}/{out.creator_name}"
    out.license_name = dataset.license
    out.current_version_number = latest.number
    out.last_updated = datetime.fromisoformat(latest.created)
    out.total_bytes = total_bytes(version_dir(sandbox, ref, latest.number), latest.files)
    versions = []
    for kept in reversed(dataset.versions):
        version = api.ApiDatasetVersion()
        version.version_number, version.version_notes, version.status = kept.number, kept.notes, "ready"
        version.creation_date = datetime.fromisoformat(kept.created)
        version.creator_name = version.creator_ref = out.creator_name
        versions.append(version)
    out.versions = versions
    return out


@route(DATASETS, "GetDataset")
def get_dataset(call: Call):
    req = api.ApiGetDatasetRequest.from_dict(call.body)
    ref, dataset = _visible(call, req.owner_slug, req.dataset_slug)
    return _as_api_dataset(call.sandbox, ref, dataset)


def _matches(sandbox, ref: str, dataset: Dataset, req) -> bool:
    """Whether a dataset passes the listing's filters (search words, file type, license, size, tags)."""
    text = f"{ref} {dataset.title} {dataset.subtitle} {' '.join(dataset.keywords)}".lower()
    if not all(word in text for word in (req.search or "").lower().split()):
        return False
    if req.tag_ids and not set(req.tag_ids.lower().split(",")) <= {k.lower() for k in dataset.keywords}:
        return False
    kind = req.file_type.name.removeprefix("DATASET_FILE_TYPE_GROUP_").lower()
    if req.file_type != DatasetFileTypeGroup.DATASET_FILE_TYPE_GROUP_ALL and not any(
            n.lower().endswith(f".{'sqlite' if kind == 'sqlite' else kind}") for n in dataset.latest.files):
        return False
    family = req.license.name.removeprefix("DATASET_LICENSE_GROUP_").lower()
    if req.license != DatasetLicenseGroup.DATASET_LICENSE_GROUP_ALL:
        known = ("cc", "gpl", "odb")
        name = dataset.license.lower()
        if (family in known and not name.startswith(family)) or (family == "other" and name.startswith(known)):
            return False
    size = total_bytes(version_dir(sandbox, ref, dataset.latest.number), dataset.latest.files)
    return size >= (req.min_size or 0) and (not req.max_size or size <= req.max_size)  # 0: not given


def _listing_order(req, ref: str, dataset: Dataset):
    """Sort key: newest first by the date the order names (the sandbox has no votes or activity to rank by)."""
    if req.sort_by == DatasetSortBy.DATASET_SORT_BY_PUBLISHED:
        return dataset.versions[0].created, ref
    if req.sort_by == DatasetSortBy.DATASET_SORT_BY_RELEVANCE:
        words = (req.search or "").lower().split()
        return sum(dataset.title.lower().count(w) + ref.count(w) for w in words), dataset.latest.created
    return dataset.latest.created, ref  # hottest, votes, updated, active: the most recently updated first


def _page(req) -> tuple[int, int]:
    """(first index, page size) of the page a listing request asks for, by token or page number."""
    size = min(req.page_size or 20, MAX_PAGE)
    page = getattr(req, "page", None) or 1
    start = int(req.page_token) if (req.page_token or "").isdigit() else (page - 1) * size
    return start, size


@route(DATASETS, "ListDatasets")
def list_datasets(call: Call):
    """``kaggle datasets list``: the caller's (--mine), a user's (--user), or every dataset the caller may see."""
    req = api.ApiListDatasetsRequest.from_dict(call.body)
    mine = req.group in (DatasetSelectionGroup.DATASET_SELECTION_GROUP_MY,
                         DatasetSelectionGroup.DATASET_SELECTION_GROUP_MY_PRIVATE,
                         DatasetSelectionGroup.DATASET_SELECTION_GROUP_MY_PUBLIC)
    owner = call.user if mine else (req.user or None)
    found = [(ref, d) for ref, d in _all(call).items()
             if _can_see(call.user, ref, d) and owner in (None, ref.split("/")[0]) and _matches(call.sandbox, ref, d, req)]
    found.sort(key=lambda item: _listing_order(req, *item), reverse=True)
    start, size = _page(req)
    answer = api.ApiListDatasetsResponse()
    answer.datasets = [_as_api_dataset(call.sandbox, ref, d) for ref, d in found[start:start + size]]
    if start + size < len(found):
        answer.next_page_token = str(start + size)
    return answer


@route(DATASETS, "ListDatasetFiles", auth=False)
def list_dataset_files(call: Call):
    req = api.ApiListDatasetFilesRequest.from_dict(call.body)
    ref, dataset = _visible(call, req.owner_slug, req.dataset_slug)
    version = _version_of(ref, dataset, req.dataset_version_number)
    folder = version_dir(call.sandbox, ref, version.number)
    start, size = _page(req)
    answer = api.ApiListDatasetFilesResponse()
    files = []
    for name in version.files[start:start + size]:
        item = api.ApiDatasetFile()
        item.ref, item.name, item.dataset_ref, item.owner_ref = name, name, ref, ref.split("/")[0]
        item.total_bytes = (folder / name).stat().st_size
        item.creation_date = datetime.fromisoformat(version.created)
        item.url = f"{_url(ref)}?select={quote(name)}"
        files.append(item)
    answer.dataset_files = files
    if start + size < len(version.files):
        answer.next_page_token = str(start + size)
    return answer


@route(DATASETS, "GetDatasetMetadata", auth=False)
def get_dataset_metadata(call: Call):
    """What ``kaggle datasets metadata`` writes to dataset-metadata.json (and ``download`` reads the licenses from)."""
    req = api.ApiGetDatasetMetadataRequest.from_dict(call.body)
    ref, dataset = _visible(call, req.owner_slug, req.dataset_slug)
    folder = version_dir(call.sandbox, ref, dataset.latest.number)
    info = DatasetInfo()
    info.dataset_id, info.dataset_slug, info.owner_user = record_id(ref), req.dataset_slug, req.owner_slug
    info.title, info.subtitle, info.description = dataset.title, dataset.subtitle, dataset.description
    info.is_private, info.keywords = dataset.is_private, list(dataset.keywords)
    license_ = SettingsLicense()
    license_.name = dataset.license or "unknown"
    info.licenses = [license_]
    data = []
    for name in dataset.latest.files:
        item = DatasetSettingsFile()
        item.name, item.total_bytes = name, (folder / name).stat().st_size
        data.append(item)
    info.data = data
    answer = api.ApiGetDatasetMetadataResponse()
    answer.info = info
    return answer


@route(DATASETS, "DownloadDataset", auth=False)
def download_dataset(call: Call):
    """The whole version as <slug>.zip, or one file of it: a redirect to the bytes, as Kaggle answers."""
    req = api.ApiDownloadDatasetRequest.from_dict(call.body)
    ref, dataset = _visible(call, req.owner_slug, req.dataset_slug)
    version = _version_of(ref, dataset, req.dataset_version_number)
    where = f"{call.base_url}/sandbox/datasets/{ref}/{version.number}"
    if not req.file_name:
        return Redirect(f"{where}/{quote(ref.split('/')[1])}.zip")
    if req.file_name not in version.files:
        raise ApiError(404, f"Dataset {ref} version {version.number} has no file '{req.file_name}'")
    return Redirect(f"{where}/files/{quote(req.file_name)}")


def _served_version(sandbox, owner: str, slug: str, number: str) -> tuple[str, DatasetVersion] | None:
    ref = f"{owner}/{slug}"
    dataset = _all(sandbox).get(ref)
    version = dataset.version(int(number)) if dataset else None
    return (ref, version) if version else None


@download(r"/sandbox/datasets/([\w.-]+)/([\w.-]+)/(\d+)/([\w.%-]+)\.zip")
def send_dataset_zip(sandbox, match) -> Download | None:
    found = _served_version(sandbox, *match.groups()[:3])
    if found is None:
        return None
    ref, version = found
    target = sandbox.cache_dir / "datasets" / ref / f"{version.number}-{identity(ref, version.created)[0]}.zip"
    path = archive(version_dir(sandbox, ref, version.number), version.files, target)
    return Download(path, *identity(f"{ref}/{version.number}", version.created), "application/zip")


@download(r"/sandbox/datasets/([\w.-]+)/([\w.-]+)/(\d+)/files/(.+)")
def send_dataset_file(sandbox, match) -> Download | None:
    found = _served_version(sandbox, *match.groups()[:3])
    name = unquote(match.group(4))
    if found is None or name not in found[1].files:
        return None
    ref, version = found
    return Download(version_dir(sandbox, ref, version.number) / name,
                    *identity(f"{ref}/{version.number}/{name}", version.created))


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
        numbers = [v.number for v in dataset.versions]
        if wanted is not None and (not wanted.isdigit() or int(wanted) not in numbers):
            invalid.append(source)
            continue
        attached.append([ref, int(wanted) if wanted else numbers[-1]])
    return attached, invalid


def mount(sandbox, attached: list[list], inputs: Path) -> None:
    """Hard-link each attached dataset version's files under INPUTS/<slug>/, as Kaggle mounts dataset_sources."""
    for ref, number in attached:
        link_tree(version_dir(sandbox, ref, number), inputs / ref.split("/")[1])
