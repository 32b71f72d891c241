"""A run published as a private Kaggle dataset, so that a kernel can mount its folds (`kagglekit upload-run`).

A model trained on a laptop reaches a code competition's rerun only as an
attached input: this publishes a run folder (its settings, fold assignment,
scores and finished folds; run_folder.export_run decides what goes) through
the client's dataset_create_new, or dataset_create_version when the dataset
exists. Each fold folder travels as a zip (the client's ``dir_mode="zip"``),
which Kaggle unpacks, so the dataset mounts in a kernel as a run folder under
/kaggle/input/<slug>/. Every call goes through kagglekit.kaggle.remote.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from kagglekit.core.atomic import write_json
from kagglekit.core.errors import KagglekitError
from kagglekit.core.refs import parse_ref
from kagglekit.kaggle.remote import Hints, RetryPolicy, call, connect, status_of
from kagglekit.runs.folder import RunFolder, export_run

LICENSE = "CC0-1.0"


@dataclass(frozen=True)
class Published:
    """A dataset version Kaggle accepted."""

    ref: str  # owner/slug
    version: int | None
    created: bool  # True: a new dataset; False: a new version of it
    url: str
    files: tuple[str, ...]


def check_dataset_ref(ref: str) -> tuple[str, str]:
    """(owner, slug) of OWNER/SLUG, refused as Kaggle would refuse it."""
    found = parse_ref(ref, "dataset", "--dataset", "kaggler/digits-models")
    return found.owner, found.slug


def upload_run(run_dir: Path, dataset: str, notes: str = "", retry: RetryPolicy | None = None) -> Published:
    """Publish RUN_DIR's folds and settings as the private dataset DATASET (created, or given a new version)."""
    owner, slug = check_dataset_ref(dataset)
    run = RunFolder(run_dir)
    run.read_config()  # a run folder, or one clear line
    policy = retry or RetryPolicy.from_env()
    hints = Hints(by_status={403: lambda why: f"Kaggle refused to publish {dataset} (403: {why}); a dataset can only "
                                              "be published under your own user name: check --dataset's owner",
                             404: lambda why: f"Kaggle has no dataset {dataset} (404: {why}); check --dataset"})
    api = connect()
    with tempfile.TemporaryDirectory(prefix="kagglekit-upload-") as tmp:
        folder = Path(tmp) / slug
        files = export_run(run, folder)
        write_json(folder / "dataset-metadata.json", {"id": dataset, "title": slug, "licenses": [{"name": LICENSE}]})
        created = not call(lambda: _exists(api, dataset), f"look up dataset {dataset}", policy, hints)
        if created:
            answer = call(lambda: api.dataset_create_new(str(folder), public=False, quiet=True, dir_mode="zip"),
                          f"create dataset {dataset}", policy, hints)
        else:
            answer = call(lambda: api.dataset_create_version(str(folder), notes or f"kagglekit upload-run {run.path}",
                                                             quiet=True, dir_mode="zip"),
                          f"add a version to dataset {dataset}", policy, hints)
    if answer is None or answer.error or (answer.status or "ok").lower() != "ok":
        raise KagglekitError(f"Kaggle did not accept dataset {dataset}: {getattr(answer, 'error', None) or 'no reason given'}")
    version = call(lambda: _current_version(api, owner, slug), f"read the version of dataset {dataset}", policy, hints)
    return Published(dataset, version, created, answer.url or "", tuple(files))


def _exists(api, dataset: str) -> bool:
    import requests

    try:
        api.dataset_status(dataset)
        return True
    except requests.HTTPError as exc:
        if status_of(exc) == 404:
            return False
        raise


def _current_version(api, owner: str, slug: str) -> int | None:
    from kagglesdk.datasets.types.dataset_api_service import ApiGetDatasetRequest

    request = ApiGetDatasetRequest()
    request.owner_slug, request.dataset_slug = owner, slug
    with api.build_kaggle_client() as kaggle:
        return kaggle.datasets.dataset_api_client.get_dataset(request).current_version_number
