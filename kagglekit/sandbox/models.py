"""Handlers of ``models.ModelApiService``: Kaggle Models, their instances (variations) and instance versions.

A model (``kaggle models create/get/update/list/delete``) holds instances, one
per framework and variation (``kaggle models instances create/get/update/files/
list/delete``), each with numbered versions of files (``kaggle models instances
versions create/files/list/download/delete``). Files are uploaded as dataset
files are (kagglekit.sandbox.blobs; zips unpacked) and kept whole under
``<state>/models/<owner>/<model>/<framework>/<variation>/<N>/``. A version
downloads as ``<model>.tar.gz`` (what the client expects; ``--untar`` unpacks
it), resumable with Range requests.

A kernel lists versions in its ``model_sources`` as
``owner/model/framework/variation/version``; the sandbox mounts each under
``input/<model>/<framework>/<variation>/<version>/``, read-only, as Kaggle does
under ``/kaggle/input/``: the way pretrained weights reach a kernel with the
internet off. A framework is written in paths as Kaggle writes it: its name in
lower case without separators (``keras``, ``tensorflow2``, ``pytorch``).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from kagglesdk.models.types import model_api_service as api
from kagglesdk.models.types import model_types
from kagglesdk.models.types.model_enums import ModelFramework, ModelInstanceType

from kagglekit.sandbox.blobs import archive, identity, record_id, store_files, total_bytes, uploaded
from kagglekit.sandbox.box import link_tree
from kagglekit.sandbox.routes import MODELS, SITE, ApiError, Call, Download, Redirect, download, route
from kagglekit.sandbox.store import utc_now

SECTION = "models"
MAX_PAGE = 100
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,48}[a-z0-9]$")


@dataclass
class ModelVersion:
    """One version of a model instance: its number, when it was made, its notes and files."""

    number: int
    created: str  # ISO time, UTC
    notes: str = ""
    files: list[str] = field(default_factory=list)


@dataclass
class Instance:
    """A model instance (a framework and variation of the model) and its versions."""

    slug: str
    framework: str  # ModelFramework's member name, e.g. MODEL_FRAMEWORK_KERAS
    overview: str = ""
    usage: str = ""
    license_name: str = ""
    fine_tunable: bool = False
    training_data: list[str] = field(default_factory=list)
    instance_type: str = ModelInstanceType.MODEL_INSTANCE_TYPE_UNSPECIFIED.name
    base_model_instance: str = ""
    external_base_model_url: str = ""
    versions: list[ModelVersion] = field(default_factory=list)


@dataclass
class Model:
    """A Kaggle Model as the sandbox keeps it (state.json, section "models", keyed by owner/slug)."""

    title: str
    subtitle: str = ""
    is_private: bool = True
    description: str = ""
    publish_time: str | None = None
    provenance_sources: str = ""
    created: str = ""
    updated: str = ""
    instances: dict[str, Instance] = field(default_factory=dict)  # "<framework path name>/<variation>"


def framework_name(framework: ModelFramework | str) -> str:
    """How Kaggle writes FRAMEWORK in paths: MODEL_FRAMEWORK_TENSOR_FLOW_2 -> tensorflow2."""
    name = framework.name if isinstance(framework, ModelFramework) else framework
    return name.removeprefix("MODEL_FRAMEWORK_").replace("_", "").lower()


def _framework(text: str) -> ModelFramework | None:
    """The framework a model_sources path names (any case, separators or not), or None."""
    wanted = text.replace("_", "").replace("-", "").lower()
    return next((f for f in ModelFramework if framework_name(f) == wanted), None)


def _instance_key(framework: ModelFramework, slug: str) -> str:
    return f"{framework_name(framework)}/{slug}"


def version_dir(sandbox, ref: str, key: str, number: int) -> Path:
    """Where version NUMBER of instance KEY (framework/variation) of model REF (owner/slug) keeps its files."""
    return sandbox.state_dir / "models" / ref / key / str(number)


def _url(ref: str, key: str = "", number: int | None = None) -> str:
    return f"{SITE}/models/{ref}" + (f"/{key}" if key else "") + (f"/{number}" if number is not None else "")


# -- finding ---------------------------------------------------------------------

def _models(call) -> dict[str, Model]:
    return call.sandbox.store.records(SECTION, Model)


def _visible(call: Call, owner: str, slug: str) -> tuple[str, Model]:
    ref = f"{owner}/{slug}"
    model = _models(call).get(ref)
    if model is None or (model.is_private and owner != call.user):
        raise ApiError(404, f"Model {ref} not found")
    return ref, model


def _owned(call: Call, owner: str, slug: str, action: str) -> tuple[str, Model]:
    ref, model = _visible(call, owner, slug)
    if owner != call.user:
        raise ApiError(403, f"you ({call.user}) cannot {action} {ref}")
    return ref, model


def _instance(ref: str, model: Model, framework: ModelFramework, slug: str) -> tuple[str, Instance]:
    key = _instance_key(framework, slug)
    if key not in model.instances:
        raise ApiError(404, f"Model {ref} has no instance {key}")
    return key, model.instances[key]


def _version(ref: str, key: str, instance: Instance, number: int | None) -> ModelVersion:
    if not instance.versions:
        raise ApiError(404, f"Model instance {ref}/{key} has no versions")
    found = instance.versions[-1] if not number else next((v for v in instance.versions if v.number == number), None)
    if found is None:
        raise ApiError(404, f"Model instance {ref}/{key} has no version {number}")
    return found


# -- models ----------------------------------------------------------------------

def _created(ref: str, key: str = "", number: int | None = None) -> api.ApiCreateModelResponse:
    answer = api.ApiCreateModelResponse()
    answer.id = record_id(f"{ref}/{key}/{number}" if key else ref)
    answer.ref = ref + (f"/{key}" if key else "")
    answer.url = _url(ref, key, number)
    return answer


@route(MODELS, "CreateModel")
def create_model(call: Call):
    req = api.ApiCreateModelRequest.from_dict(call.body)
    if req.owner_slug != call.user:
        raise ApiError(403, f"you ({call.user}) cannot create a model for {req.owner_slug}")
    if not _SLUG.match(req.slug or "") or "--" in req.slug:
        raise ApiError(400, f"Invalid model slug '{req.slug}': lowercase letters, digits and single hyphens")
    ref = f"{req.owner_slug}/{req.slug}"
    now = utc_now().isoformat()
    with call.sandbox.store.change_records(SECTION, Model) as models:
        if ref in models:
            answer = api.ApiCreateModelResponse()
            answer.error = f"A model with the slug '{req.slug}' already exists for {req.owner_slug}"
            return answer
        models[ref] = Model(title=req.title or req.slug, subtitle=req.subtitle or "", is_private=req.is_private is not False,
                            description=req.description or "", provenance_sources=req.provenance_sources or "",
                            publish_time=req.publish_time.isoformat() if req.publish_time else None,
                            created=now, updated=now)
    return _created(ref)


def _as_api_instance(sandbox, ref: str, key: str, instance: Instance) -> api.ApiModelInstance:
    out = api.ApiModelInstance()
    latest = instance.versions[-1] if instance.versions else None
    out.id = record_id(f"{ref}/{key}")
    out.slug, out.framework = instance.slug, ModelFramework[instance.framework]
    out.fine_tunable, out.overview, out.usage = instance.fine_tunable, instance.overview, instance.usage
    out.training_data, out.license_name = list(instance.training_data), instance.license_name
    out.model_instance_type = ModelInstanceType[instance.instance_type]
    out.external_base_model_url = instance.external_base_model_url
    out.url = _url(ref, key)
    if latest:
        out.version_number, out.version_id = latest.number, record_id(f"{ref}/{key}/{latest.number}")
        out.download_url = _url(ref, key, latest.number)
        out.total_uncompressed_bytes = total_bytes(version_dir(sandbox, ref, key, latest.number), latest.files)
    return out


def _as_api_model(sandbox, ref: str, model: Model) -> api.ApiModel:
    out = api.ApiModel()
    owner, slug = ref.split("/")
    out.id, out.ref, out.slug, out.author = record_id(ref), ref, slug, owner
    out.title, out.subtitle, out.is_private, out.description = model.title, model.subtitle, model.is_private, model.description
    out.provenance_sources, out.url = model.provenance_sources, _url(ref)
    if model.publish_time:
        out.publish_time = datetime.fromisoformat(model.publish_time)
    if model.updated:
        out.update_time = datetime.fromisoformat(model.updated)
    out.instances = [_as_api_instance(sandbox, ref, key, i) for key, i in sorted(model.instances.items())]
    return out


@route(MODELS, "GetModel")
def get_model(call: Call):
    req = api.ApiGetModelRequest.from_dict(call.body)
    ref, model = _visible(call, req.owner_slug, req.model_slug)
    return _as_api_model(call.sandbox, ref, model)


@route(MODELS, "ListModels")
def list_models(call: Call):
    """``kaggle models list``: the models the caller may see, of one owner (--owner) or with every word searched."""
    req = api.ApiListModelsRequest.from_dict(call.body)
    words = (req.search or "").lower().split()
    found = [(ref, m) for ref, m in sorted(_models(call).items())
             if (not m.is_private or ref.split("/")[0] == call.user) and req.owner in (None, "", ref.split("/")[0])
             and all(w in f"{ref} {m.title} {m.subtitle}".lower() for w in words)]
    found.sort(key=lambda item: item[1].updated, reverse=True)  # no votes or downloads to rank by: the newest first
    start = int(req.page_token) if (req.page_token or "").isdigit() else 0
    size = min(req.page_size or 20, MAX_PAGE)
    answer = api.ApiListModelsResponse()
    answer.models = [_as_api_model(call.sandbox, ref, m) for ref, m in found[start:start + size]]
    answer.total_results = len(found)
    if start + size < len(found):
        answer.next_page_token = str(start + size)
    return answer


_MODEL_FIELDS = {"title": "title", "subtitle": "subtitle", "is_private": "is_private", "description": "description",
                 "provenance_sources": "provenance_sources"}


@route(MODELS, "UpdateModel")
def update_model(call: Call):
    """Change the fields the request's update mask names (``kaggle models update``)."""
    req = api.ApiUpdateModelRequest.from_dict(call.body)
    ref, _ = _owned(call, req.owner_slug, req.model_slug, "update")
    paths = list(req.update_mask.paths) if req.update_mask else []
    with call.sandbox.store.change_records(SECTION, Model) as models:
        model = models[ref]
        for path in paths:
            if path in _MODEL_FIELDS:
                setattr(model, _MODEL_FIELDS[path], getattr(req, path))
            elif path == "publish_time":
                model.publish_time = req.publish_time.isoformat() if req.publish_time else None
        model.updated = utc_now().isoformat()
    answer = api.ApiUpdateModelResponse()
    answer.id, answer.ref, answer.url = record_id(ref), ref, _url(ref)
    return answer


@route(MODELS, "DeleteModel")
def delete_model(call: Call):
    req = api.ApiDeleteModelRequest.from_dict(call.body)
    ref, _ = _owned(call, req.owner_slug, req.model_slug, "delete")
    with call.sandbox.store.change_records(SECTION, Model) as models:
        del models[ref]
    shutil.rmtree(call.sandbox.state_dir / "models" / ref, ignore_errors=True)
    answer = api.ApiDeleteModelResponse()
    answer.error = ""  # the client measures len(error)
    return answer


# -- instances -------------------------------------------------------------------

@route(MODELS, "CreateModelInstance")
def create_model_instance(call: Call):
    """``kaggle models instances create``: a framework and variation of the model, with its files as version 1."""
    req = api.ApiCreateModelInstanceRequest.from_dict(call.body)
    ref, model = _owned(call, req.owner_slug, req.model_slug, "add an instance to")
    body = req.body or api.ApiCreateModelInstanceRequestBody()
    if not _SLUG.match(body.instance_slug or ""):
        raise ApiError(400, f"Invalid instance slug '{body.instance_slug}': lowercase letters, digits and hyphens")
    key = _instance_key(body.framework, body.instance_slug)
    if key in model.instances:
        answer = api.ApiCreateModelResponse()
        answer.error = f"Model {ref} already has an instance {key}"
        return answer
    held = store_files(call, version_dir(call.sandbox, ref, key, 1), uploaded(call, body.files, "A model instance"))
    with call.sandbox.store.change_records(SECTION, Model) as models:
        models[ref].instances[key] = Instance(
            slug=body.instance_slug, framework=body.framework.name, overview=body.overview or "",
            usage=body.usage or "", license_name=body.license_name or "", fine_tunable=bool(body.fine_tunable),
            training_data=list(body.training_data or []),
            instance_type=(body.model_instance_type or ModelInstanceType.MODEL_INSTANCE_TYPE_UNSPECIFIED).name,
            base_model_instance=body.base_model_instance or "", external_base_model_url=body.external_base_model_url or "",
            versions=[ModelVersion(1, utc_now().isoformat(), "", held)])
        models[ref].updated = utc_now().isoformat()
    return _created(ref, key, 1)


@route(MODELS, "GetModelInstance")
def get_model_instance(call: Call):
    req = api.ApiGetModelInstanceRequest.from_dict(call.body)
    ref, model = _visible(call, req.owner_slug, req.model_slug)
    key, instance = _instance(ref, model, req.framework, req.instance_slug)
    return _as_api_instance(call.sandbox, ref, key, instance)


@route(MODELS, "ListModelInstances")
def list_model_instances(call: Call):
    req = api.ApiListModelInstancesRequest.from_dict(call.body)
    ref, model = _visible(call, req.owner_slug, req.model_slug)
    items = []
    for key, instance in sorted(model.instances.items()):
        latest = instance.versions[-1] if instance.versions else None
        item = model_types.ModelInstance()
        item.id, item.owner_slug, item.model_slug, item.slug = record_id(f"{ref}/{key}"), *ref.split("/"), instance.slug
        item.framework, item.overview, item.usage = ModelFramework[instance.framework], instance.overview, instance.usage
        if latest:
            item.version_number, item.version_notes = latest.number, latest.notes
            item.total_uncompressed_bytes = total_bytes(version_dir(call.sandbox, ref, key, latest.number), latest.files)
        items.append(item)
    answer = api.ApiListModelInstancesResponse()
    answer.instances = items
    return answer


_INSTANCE_FIELDS = {"overview": "overview", "usage": "usage", "license_name": "license_name",
                    "fine_tunable": "fine_tunable", "training_data": "training_data",
                    "base_model_instance": "base_model_instance", "external_base_model_url": "external_base_model_url"}


@route(MODELS, "UpdateModelInstance")
def update_model_instance(call: Call):
    req = api.ApiUpdateModelInstanceRequest.from_dict(call.body)
    ref, model = _owned(call, req.owner_slug, req.model_slug, "update")
    key, _ = _instance(ref, model, req.framework, req.instance_slug)
    paths = list(req.update_mask.paths) if req.update_mask else []
    with call.sandbox.store.change_records(SECTION, Model) as models:
        instance = models[ref].instances[key]
        for path in paths:
            if path in _INSTANCE_FIELDS:
                value = getattr(req, path)
                setattr(instance, _INSTANCE_FIELDS[path], list(value) if isinstance(value, list) else value)
            elif path == "model_instance_type" and req.model_instance_type is not None:
                instance.instance_type = req.model_instance_type.name
        models[ref].updated = utc_now().isoformat()
    answer = api.ApiUpdateModelResponse()
    answer.id, answer.ref, answer.url, answer.error = record_id(f"{ref}/{key}"), f"{ref}/{key}", _url(ref, key), ""
    return answer


@route(MODELS, "DeleteModelInstance")
def delete_model_instance(call: Call):
    req = api.ApiDeleteModelInstanceRequest.from_dict(call.body)
    ref, model = _owned(call, req.owner_slug, req.model_slug, "delete an instance of")
    key, _ = _instance(ref, model, req.framework, req.instance_slug)
    with call.sandbox.store.change_records(SECTION, Model) as models:
        del models[ref].instances[key]
    shutil.rmtree(call.sandbox.state_dir / "models" / ref / key, ignore_errors=True)
    answer = api.ApiDeleteModelResponse()
    answer.error = ""
    return answer


# -- instance versions -------------------------------------------------------------

@route(MODELS, "CreateModelInstanceVersion")
def create_model_instance_version(call: Call):
    req = api.ApiCreateModelInstanceVersionRequest.from_dict(call.body)
    ref, model = _owned(call, req.owner_slug, req.model_slug, "add a version to")
    key, instance = _instance(ref, model, req.framework, req.instance_slug)
    body = req.body or api.ApiCreateModelInstanceVersionRequestBody()
    number = (instance.versions[-1].number if instance.versions else 0) + 1
    held = store_files(call, version_dir(call.sandbox, ref, key, number), uploaded(call, body.files, "A model version"))
    with call.sandbox.store.change_records(SECTION, Model) as models:
        models[ref].instances[key].versions.append(ModelVersion(number, utc_now().isoformat(), body.version_notes or "", held))
        models[ref].updated = utc_now().isoformat()
    return _created(ref, key, number)


@route(MODELS, "ListModelInstanceVersions")
def list_model_instance_versions(call: Call):
    req = api.ApiListModelInstanceVersionsRequest.from_dict(call.body)
    ref, model = _visible(call, req.owner_slug, req.model_slug)
    key, instance = _instance(ref, model, req.framework, req.instance_slug)
    versions = []
    for kept in reversed(instance.versions):
        item = model_types.ModelInstanceVersion()
        item.id, item.version_number = record_id(f"{ref}/{key}/{kept.number}"), kept.number
        item.framework, item.variation_slug = ModelFramework[instance.framework], instance.slug
        item.model_title, item.is_private, item.url = model.title, model.is_private, _url(ref, key, kept.number)
        item.owner_slug, item.model_slug = ref.split("/")
        versions.append(item)
    listing = model_types.ModelInstanceVersionList()
    listing.versions = versions
    answer = api.ApiListModelInstanceVersionsResponse()
    answer.version_list = listing
    return answer


@route(MODELS, "ListModelInstanceVersionFiles")
def list_model_instance_version_files(call: Call):
    """The files of an instance version (the latest without a version number: ``instances files``)."""
    req = api.ApiListModelInstanceVersionFilesRequest.from_dict(call.body)
    ref, model = _visible(call, req.owner_slug, req.model_slug)
    key, instance = _instance(ref, model, req.framework, req.instance_slug)
    version = _version(ref, key, instance, req.version_number)
    folder = version_dir(call.sandbox, ref, key, version.number)
    start = int(req.page_token) if (req.page_token or "").isdigit() else 0
    size = min(req.page_size or 20, MAX_PAGE)
    files = []
    for name in version.files[start:start + size]:
        item = api.ApiModelFile()
        item.name, item.size = name, (folder / name).stat().st_size
        item.creation_date = datetime.fromisoformat(version.created)
        files.append(item)
    answer = api.ApiListModelInstanceVersionFilesResponse()
    answer.files = files
    if start + size < len(version.files):
        answer.next_page_token = str(start + size)
    return answer


@route(MODELS, "DownloadModelInstanceVersion")
def download_model_instance_version(call: Call):
    req = api.ApiDownloadModelInstanceVersionRequest.from_dict(call.body)
    ref, model = _visible(call, req.owner_slug, req.model_slug)
    key, instance = _instance(ref, model, req.framework, req.instance_slug)
    version = _version(ref, key, instance, req.version_number)
    return Redirect(f"{call.base_url}/sandbox/models/{ref}/{key}/{version.number}/{req.model_slug}.tar.gz")


@download(r"/sandbox/models/([\w.-]+)/([\w.-]+)/([\w.-]+)/([\w.-]+)/(\d+)/[\w.-]+\.tar\.gz")
def send_model_version(sandbox, match) -> Download | None:
    owner, slug, framework, variation, number = match.groups()
    ref, key = f"{owner}/{slug}", f"{framework}/{variation}"
    model = sandbox.store.records(SECTION, Model).get(ref)
    instance = model.instances.get(key) if model else None
    version = next((v for v in instance.versions if v.number == int(number)), None) if instance else None
    if version is None:
        return None
    tag = identity(f"{ref}/{key}/{number}", version.created)
    target = sandbox.cache_dir / "models" / ref / key / f"{number}-{tag[0]}.tar.gz"
    path = archive(version_dir(sandbox, ref, key, version.number), version.files, target)
    return Download(path, *tag, "application/gzip")


@route(MODELS, "DeleteModelInstanceVersion")
def delete_model_instance_version(call: Call):
    req = api.ApiDeleteModelInstanceVersionRequest.from_dict(call.body)
    ref, model = _owned(call, req.owner_slug, req.model_slug, "delete a version of")
    key, instance = _instance(ref, model, req.framework, req.instance_slug)
    _version(ref, key, instance, req.version_number)
    with call.sandbox.store.change_records(SECTION, Model) as models:
        kept = models[ref].instances[key]
        kept.versions = [v for v in kept.versions if v.number != req.version_number]
    shutil.rmtree(version_dir(call.sandbox, ref, key, req.version_number), ignore_errors=True)
    answer = api.ApiDeleteModelResponse()
    answer.error = ""
    return answer


# -- kernels ---------------------------------------------------------------------

def attach(call: Call, sources: list[str]) -> tuple[list[list], list[str]]:
    """(attached [owner/model, framework/variation, version] triples, the model_sources the caller cannot use)."""
    attached, invalid = [], []
    for source in sources:
        parts = source.split("/")
        framework = _framework(parts[2]) if len(parts) == 5 else None
        try:
            if framework is None or not parts[4].isdigit():
                raise ApiError(404, source)
            ref, model = _visible(call, parts[0], parts[1])
            key, instance = _instance(ref, model, framework, parts[3])
            version = _version(ref, key, instance, int(parts[4]))
        except ApiError:
            invalid.append(source)
            continue
        attached.append([ref, key, version.number])
    return attached, invalid


def mount(sandbox, attached: list[list], inputs: Path) -> None:
    """Hard-link each attached version's files under INPUTS/<model>/<framework>/<variation>/<version>/, as Kaggle does."""
    for ref, key, number in attached:
        link_tree(version_dir(sandbox, ref, key, number), inputs / ref.split("/")[1] / key / str(number))
