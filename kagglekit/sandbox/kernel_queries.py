"""Kernel queries: ``kaggle kernels list``, ``kernels pull`` / ``get`` (with ``-m``) and ``kernels files``.

They answer from the push records (kagglekit.sandbox.kernel_records) and the
session folders; pushing and running sessions stay with
kagglekit.sandbox.kernels, and this module only reads what they leave.

``pull -m`` writes back a kernel-metadata.json that ``kernels push`` (alias
``update``) takes as it is. ``kernels list`` filters by owner (``--mine``,
``--user``), by source (``--competition``, ``--dataset``, ``--parent``: the
sandbox has no forks, so a kernel's parents are the kernels whose output it
reads, its kernel_sources), by words of the title (``--search``), language,
kernel type and output type, and sorts by the dates it has (creation, last run;
there are no votes, views, comments or scores to rank by). Everyone's listing
holds the public kernels and the caller's own.
"""

from __future__ import annotations

from datetime import datetime, timezone

from kagglesdk.kernels.types import kernels_api_service as api
from kagglesdk.kernels.types.kernels_enums import KernelsListSortType, KernelsListViewType

from kagglekit.sandbox.blobs import record_id
from kagglekit.sandbox.kernel_records import SECTION, KernelRecord, PushedVersion
from kagglekit.sandbox.kernels import latest_version, refresh
from kagglekit.sandbox.routes import KERNELS, ApiError, Call, route
from kagglekit.sandbox.sessions import outputs, session_dir

MAX_PAGE = 100
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".svg", ".gif", ".html")


def _records(call: Call) -> dict[str, KernelRecord]:
    return {ref: k for ref, k in call.sandbox.store.records(SECTION, KernelRecord).items() if k.versions}


def _can_see(call: Call, ref: str, kernel: KernelRecord) -> bool:
    return not kernel.latest.is_private or ref.split("/")[0] == call.user


def _pushed(call: Call, owner: str, slug: str, label: str | None) -> tuple[str, PushedVersion]:
    """Version LABEL ('3', 'v3'; the latest when empty) of kernel owner/slug, if the caller may see it."""
    ref = f"{owner}/{slug}"
    kernel = _records(call).get(ref)
    if kernel is None or not _can_see(call, ref, kernel):
        raise ApiError(404, f"Kernel {ref} not found")
    if not label:
        return ref, kernel.latest
    number = str(label).lstrip("v")
    found = next((v for v in kernel.versions if str(v.number) == number), None)
    if found is None:
        raise ApiError(404, f"Kernel {ref} has no version {number}")
    return ref, found


def _as_metadata(ref: str, pushed: PushedVersion, latest: PushedVersion) -> api.ApiKernelMetadata:
    out = api.ApiKernelMetadata()
    owner, slug = ref.split("/")
    out.id, out.ref, out.slug, out.author, out.title = record_id(ref), ref, slug, owner, pushed.title
    out.last_run_time = datetime.fromisoformat(latest.created)
    out.language, out.kernel_type, out.is_private = pushed.language, pushed.kernel_type, pushed.is_private
    out.enable_gpu, out.enable_tpu, out.enable_internet = pushed.enable_gpu, pushed.enable_tpu, pushed.enable_internet
    out.category_ids = list(pushed.keywords)
    out.dataset_data_sources, out.kernel_data_sources = list(pushed.dataset_sources), list(pushed.kernel_sources)
    out.competition_data_sources, out.model_data_sources = list(pushed.competition_sources), list(pushed.model_sources)
    out.current_version_number = latest.number
    out.docker_image, out.machine_shape = pushed.docker_image or None, pushed.machine_shape or None
    return out


# -- pull ------------------------------------------------------------------------

@route(KERNELS, "GetKernel")
def get_kernel(call: Call):
    """``kernels pull`` / ``get``: a version's source as pushed and its metadata (``-m``)."""
    req = api.ApiGetKernelRequest.from_dict(call.body)
    ref, pushed = _pushed(call, req.user_name, req.kernel_slug, req.version_label)
    source = session_dir(call.sandbox, ref, pushed.number) / pushed.source
    blob = api.ApiKernelBlob()
    blob.source = source.read_text() if source.is_file() else ""
    blob.language, blob.kernel_type, blob.slug = pushed.language, pushed.kernel_type, req.kernel_slug
    answer = api.ApiGetKernelResponse()
    answer.metadata = _as_metadata(ref, pushed, _records(call)[ref].latest)
    answer.blob = blob
    return answer


# -- files -----------------------------------------------------------------------

@route(KERNELS, "ListKernelFiles")
def list_kernel_files(call: Call):
    """``kernels files``: the output files of a version (the latest by default), once its session has ended."""
    req = api.ApiListKernelFilesRequest.from_dict(call.body)
    ref, pushed = _pushed(call, req.user_name, req.kernel_slug, req.version_label)
    _, version = latest_version(call, req.user_name, req.kernel_slug, str(pushed.number))
    version = refresh(call.sandbox, ref, version)
    session = session_dir(call.sandbox, ref, pushed.number)
    names = outputs(session) if version["status"] in ("COMPLETE", "ERROR") else []
    start = int(req.page_token) if (req.page_token or "").isdigit() else 0
    size = min(req.page_size or 20, MAX_PAGE)
    files = []
    for name in names[start:start + size]:
        path = session / "working" / name
        item = api.ApiListKernelFilesItem()
        item.name, item.size = name, path.stat().st_size
        item.creation_date = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        files.append(item)
    answer = api.ApiListKernelFilesResponse()
    answer.files = files
    if start + size < len(names):
        answer.next_page_token = str(start + size)
    return answer


# -- list ------------------------------------------------------------------------

def _outputs_of(call: Call, ref: str, number: int) -> list[str]:
    return outputs(session_dir(call.sandbox, ref, number))


def _matches(call: Call, req, ref: str, kernel: KernelRecord) -> bool:
    """Whether a kernel passes kernels list's filters (owner, sources, search words, language, types)."""
    owner, latest = ref.split("/")[0], kernel.latest
    if req.group == KernelsListViewType.PROFILE and owner != call.user:
        return False
    checks = [
        (req.user, lambda: owner == req.user),
        (req.competition, lambda: req.competition in latest.competition_sources),
        (req.dataset, lambda: any(s == req.dataset or s.startswith(f"{req.dataset}/") for s in latest.dataset_sources)),
        (req.parent_kernel, lambda: any("/".join(s.split("/")[:2]) == req.parent_kernel for s in latest.kernel_sources)),
        (req.language not in (None, "", "all"), lambda: latest.language == req.language),
        (req.kernel_type not in (None, "", "all"), lambda: latest.kernel_type == req.kernel_type),
    ]
    if not all(check() for wanted, check in checks if wanted):
        return False
    if req.output_type in ("data", "visualization"):
        outputs = _outputs_of(call, ref, latest.number)
        if not outputs or (req.output_type == "visualization" and not any(n.lower().endswith(IMAGE_SUFFIXES)
                                                                         for n in outputs)):
            return False
    text = f"{ref} {latest.title}".lower()
    return all(word in text for word in (req.search or "").lower().split())


def _order(req, ref: str, kernel: KernelRecord):
    """Sort key, the first listed first: newest created, newest run (hotness and the orders the sandbox cannot
    rank by, votes, views, comments, scores), or the most search words in the title."""
    if req.sort_by == KernelsListSortType.DATE_CREATED:
        return (kernel.versions[0].created, ref)
    if req.sort_by == KernelsListSortType.RELEVANCE:
        text = f"{ref} {kernel.latest.title}".lower()
        return (sum(text.count(w) for w in (req.search or "").lower().split()), kernel.latest.created)
    return (kernel.latest.created, ref)


@route(KERNELS, "ListKernels")
def list_kernels(call: Call):
    req = api.ApiListKernelsRequest.from_dict(call.body)
    found = [(ref, k) for ref, k in _records(call).items() if _can_see(call, ref, k) and _matches(call, req, ref, k)]
    found.sort(key=lambda item: _order(req, *item), reverse=True)
    size = min(req.page_size or 20, MAX_PAGE)
    start = int(req.page_token) if (req.page_token or "").isdigit() else max((req.page or 1) - 1, 0) * size
    answer = api.ApiListKernelsResponse()
    answer.kernels = [_as_metadata(ref, k.latest, k.latest) for ref, k in found[start:start + size]]
    if start + size < len(found):
        answer.next_page_token = str(start + size)
    return answer
