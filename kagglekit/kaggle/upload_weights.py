"""A backbone's pretrained weights published as a private Kaggle Model, for kernels with the internet off.

`kagglekit upload-weights MODEL --model OWNER/NAME` puts one weights file (``--file``, or the one
keras.applications downloaded on this machine, found by ``models.pretrained``) into the Kaggle Model
OWNER/NAME as its instance ``keras/MODEL`` (hyphens for underscores): the model and the instance are created when missing, and an
existing instance gets a new version. What comes back is the handle ``kernel build --model-source`` takes
and the path under /kaggle/input that ``--weights`` takes. Every call goes through the official client
(KaggleApi's model_create_new, model_instance_create, model_instance_version_create), by kaggle.remote.call.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kagglekit.core.atomic import write_json
from kagglekit.core.errors import KagglekitError
from kagglekit.core.kaggle_paths import model_mount
from kagglekit.kaggle.remote import Hints, RetryPolicy, call, connect, status_of
from kagglekit.models.pretrained import KERAS_WEIGHTS_FILES, downloaded_weights

FRAMEWORK = "keras"
LICENSE = "Apache 2.0"  # keras.applications' own weights license


@dataclass(frozen=True)
class PublishedWeights:
    """A model instance version Kaggle accepted, and how a kernel reaches it."""

    handle: str  # owner/model/framework/variation/version: what --model-source takes
    weights: str  # the file's path inside a kernel: what --weights takes
    created: str  # "model", "instance" or "version": what this upload added

    @property
    def version(self) -> int:
        return int(self.handle.rsplit("/", 1)[1])


def upload_weights(model: str, model_ref: str, weights_file: Path | None = None, notes: str = "",
                   retry: RetryPolicy | None = None) -> PublishedWeights:
    """Publish backbone MODEL's weights (WEIGHTS_FILE, else Keras' download) as the instance keras/MODEL of the
    private Kaggle Model MODEL_REF (created when missing, else given a new version)."""
    if model not in KERAS_WEIGHTS_FILES:
        raise KagglekitError(f"'{model}' is not a backbone with pretrained weights; backbones: "
                             f"{', '.join(sorted(KERAS_WEIGHTS_FILES))}")
    from slugify import slugify  # the client's slug rule

    owner, _, slug = model_ref.partition("/")
    if model_ref.count("/") != 1 or not owner or not 3 <= len(slug) <= 50 or slugify(slug) != slug:
        raise KagglekitError(f"--model '{model_ref}' must be OWNER/NAME with a name of 3 to 50 lowercase letters, "
                             "digits and single hyphens, e.g. kaggler/efficientnet-b0-weights")
    source = Path(weights_file) if weights_file else downloaded_weights(model)
    if not source.is_file():
        raise KagglekitError(f"--file {source} is not a file; give the path of a weights file (.h5)")
    variation = model.replace("_", "-")  # instance slugs take lowercase letters, digits and hyphens
    instance = f"{owner}/{slug}/{FRAMEWORK}/{variation}"
    policy = retry or RetryPolicy.from_env()
    hints = Hints(by_status={403: lambda why: f"Kaggle refused to publish {model_ref} (403: {why}); a model can "
                                              "only be published under your own user name: check --model's owner"})
    api = connect()
    created = "version"
    with tempfile.TemporaryDirectory(prefix="kagglekit-weights-") as tmp:
        folder = Path(tmp)
        if not call(lambda: _exists(api.model_get, model_ref), f"look up model {model_ref}", policy, hints):
            write_json(folder / "model-metadata.json", {
                "ownerSlug": owner, "slug": slug, "title": slug, "subtitle": "", "isPrivate": True,
                "description": f"Pretrained {model} weights for kagglekit kernels", "publishTime": "",
                "provenanceSources": ""})
            _accepted(call(lambda: api.model_create_new(str(folder)), f"create model {model_ref}", policy, hints),
                      model_ref)
            created = "model"
        shutil.copy2(source, folder / source.name)
        if call(lambda: _exists(api.model_instance_get, instance), f"look up {instance}", policy, hints):
            _accepted(call(lambda: api.model_instance_version_create(instance, str(folder), notes or f"{source.name}",
                                                                     quiet=True),
                           f"add a version to {instance}", policy, hints), instance)
        else:
            write_json(folder / "model-instance-metadata.json", {
                "ownerSlug": owner, "modelSlug": slug, "instanceSlug": variation, "framework": FRAMEWORK,
                "overview": f"{model} backbone weights ({source.name})", "usage": "", "licenseName": LICENSE,
                "fineTunable": True, "trainingData": [], "modelInstanceType": "Unspecified",
                "baseModelInstanceId": 0, "externalBaseModelUrl": ""})
            _accepted(call(lambda: api.model_instance_create(str(folder), quiet=True), f"create {instance}",
                           policy, hints), instance)
            created = "instance" if created == "version" else created
    version = call(lambda: api.model_instance_get(instance).version_number, f"read the version of {instance}",
                   policy, hints)
    handle = f"{instance}/{version}"
    return PublishedWeights(handle, f"{model_mount(handle)}/{source.name}", created)


def _exists(lookup, ref: str) -> bool:
    import requests

    try:
        lookup(ref)
        return True
    except requests.HTTPError as exc:
        if status_of(exc) == 404:
            return False
        raise


def _accepted(answer, ref: str) -> None:
    if answer is None or getattr(answer, "error", None):
        raise KagglekitError(f"Kaggle did not accept {ref}: {getattr(answer, 'error', None) or 'no reason given'}")
