"""Kaggle kernels: the local project turned into one self-contained script kernel.

``build_kernel`` writes ``kernels/<name>/``:
  kernel-metadata.json   complete and explicit, checked with the kaggle client's own rules
  <name>.py              the one source file Kaggle runs: kagglekit's whole package and the
                         competition definition travel inside it as a base64 zip, so it needs
                         no pip install and no internet; it trains and predicts with the
                         settings it was built with (see kernels/entry.py for what it does there)
  kagglekit-kernel.json  the build settings, for `kernel push --folds-parallel` (never pushed:
                         the client sends only the code file and the metadata)
Credentials never enter the folder: the script carries kagglekit's package
files and the competition definition, nothing else.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import io
import json
import os
import pprint
import re
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from kagglekit.competition.definition import Competition
from kagglekit.core.atomic import write_json, write_text
from kagglekit.core.config import TrainConfig
from kagglekit.core.errors import KagglekitError
from kagglekit.core.kaggle_paths import INPUT_ENV, KAGGLE_INPUT, KERNEL_TMP_ENV, WORKING_ENV
from kagglekit.core.refs import check_slug
from kagglekit.core.version import __version__

METADATA_FILE = "kernel-metadata.json"
BUILD_FILE = "kagglekit-kernel.json"
KERNELS_DIR = Path("kernels")

# Accelerator names the client's docs list; the server decides which ones a competition allows.
ACCELERATORS = ("NvidiaTeslaP100", "NvidiaTeslaT4", "NvidiaTeslaT4Highmem", "NvidiaL4", "NvidiaL4X1",
                "NvidiaTeslaA100", "NvidiaH100", "NvidiaRtxPro6000", "TpuV38", "Tpu1VmV38", "TpuV5E8", "TpuV6E8")
# Not retired, but not lent to everyone either (the client's docs: NvidiaTeslaT4Highmem is not for general use).
RESTRICTED_ACCELERATORS = ("NvidiaTeslaT4Highmem",)
# What the client warns about when kaggle_api_extended has no table of its own (read from client 2.2.5's
# _RETIRED_ACCELERATORS): lower-case machine shape -> where Kaggle runs such a session instead.
_RETIRED_IN_CLIENT_2_2_5 = {"nvidiateslap100": "Kaggle runs it on NvidiaTeslaT4", "tpuv38": "Kaggle runs it on TpuV5E8",
                            "tpu1vmv38": "Kaggle runs it on TpuV5E8", "tpuv232": "Kaggle runs it on CPU",
                            "tpuv2256": "Kaggle runs it on CPU"}
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class KernelSpec:
    """Everything a kernel folder is built from."""

    name: str  # the kernel's slug, also its title and the folder's name
    owner: str
    competition: Competition
    config: TrainConfig
    gpu: str | None = None  # machine shape, e.g. NvidiaTeslaT4; None = CPU
    internet: bool = False
    private: bool = True
    dataset_sources: tuple[str, ...] = ()
    model_sources: tuple[str, ...] = ()
    kernel_sources: tuple[str, ...] = ()  # earlier kernels whose output this one resumes from
    predict: bool = True  # write submission.csv after training (fold kernels of a fan-out do not)
    fan_out_of: str | None = None  # the kernel a fold kernel of a fan-out was made from
    predict_from: str | None = None  # an inference kernel: OWNER/SLUG of the trained folds it predicts with
    predict_from_kind: str = ""  # where those folds are: "kernel" (its output) or "dataset"

    @property
    def id(self) -> str:
        return f"{self.owner}/{self.name}"


def default_kernel_name(comp: Competition, config: TrainConfig) -> str:
    """A kernel slug from the competition and the model, e.g. dogs-vs-cats-bn-cnn."""
    name = re.sub(r"[^a-z0-9]+", "-", f"{comp.slug}-{config.model}".lower()).strip("-")
    return name[:50].strip("-")


def default_predict_name(comp: Competition) -> str:
    """An inference kernel's slug, e.g. demo-digits-code-predict."""
    return f"{comp.slug[:42].strip('-')}-predict"


def predict_spec(name: str, owner: str, comp: Competition, config: TrainConfig, source: str, kind: str,
                 gpu: str | None = None) -> KernelSpec:
    """An inference kernel: it trains nothing and predicts with the folds of SOURCE (a kernel's output or a
    dataset, attached as an input), on whatever test images the competition mounts when it runs."""
    if kind not in ("kernel", "dataset"):
        raise KagglekitError(f"--predict-from must name a kernel or a dataset, not a {kind}")
    return KernelSpec(name=name, owner=owner, competition=comp, config=config, gpu=gpu, internet=False,
                      kernel_sources=(source,) if kind == "kernel" else (),
                      dataset_sources=(source,) if kind == "dataset" else (),
                      predict_from=source, predict_from_kind=kind)


def check_name(name: str) -> None:
    """Refuse a kernel name Kaggle would turn into a different slug."""
    check_slug(name, "kernel", f"kernel name '{name}' (the kernel's slug and title)", "dogs-vs-cats-bn-cnn")


def kernel_metadata(spec: KernelSpec) -> dict:
    """kernel-metadata.json with every field written out (the client's defaults are not the docs')."""
    return {
        "id": spec.id,
        "title": spec.name,
        "code_file": f"{spec.name}.py",
        "language": "python",
        "kernel_type": "script",
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


def _client():
    """The kaggle client's KaggleApi, unauthenticated: only its checks are used here."""
    with contextlib.redirect_stdout(io.StringIO()):  # importing it prints auth help when no credentials exist
        from kaggle.api.kaggle_api_extended import KaggleApi

        return KaggleApi()


def retired_accelerators() -> dict[str, str]:
    """The accelerators the kaggle client marks retired: lower-case name -> what Kaggle runs instead.

    Taken from the client's own table (the one its push warning reads), so a newer client's list wins.
    """
    with contextlib.redirect_stdout(io.StringIO()):  # importing the client prints auth help without credentials
        from kaggle.api import kaggle_api_extended as client
    table = getattr(client, "_RETIRED_ACCELERATORS", None)
    return {k.lower(): str(v) for k, v in table.items()} if isinstance(table, dict) else dict(_RETIRED_IN_CLIENT_2_2_5)


def current_accelerators() -> list[str]:
    """The accelerator names a kernel can ask for: the known ones, less the retired and the restricted."""
    retired = retired_accelerators()
    return [a for a in ACCELERATORS if a.lower() not in retired and a not in RESTRICTED_ACCELERATORS]


def check_accelerator(shape: str | None) -> None:
    """Refuse an accelerator that is retired, not open to general use, or unknown, listing the current names."""
    if not shape:
        return
    current = ", ".join(current_accelerators())
    retired = retired_accelerators().get(shape.lower())
    if retired:
        said = " ".join(retired.split()).rstrip(".")
        raise KagglekitError(f"--gpu {shape} is retired: {said[:1].lower() + said[1:]}; pick a current one: {current}")
    if shape in RESTRICTED_ACCELERATORS:
        raise KagglekitError(f"--gpu {shape} is not open to general use; pick one of: {current}")
    if shape not in ACCELERATORS:
        raise KagglekitError(f"--gpu {shape} is not a known accelerator; valid: {current}")


def session_limit(gpu: str | None) -> int:
    """The longest a Kaggle session may run, in seconds: 12 hours, 9 on a TPU."""
    return 9 * 3600 if (gpu or "").startswith("Tpu") else 12 * 3600


def check_metadata(meta: dict, folder: Path | None = None) -> None:
    """The checks `kaggle kernels push` makes before sending (with the client's own code), plus the ones
    its warnings and defaults call for: a title that is the slug, booleans written out, a known accelerator."""
    from slugify import slugify  # the client's slug rule

    def bad(what: str):
        raise KagglekitError(f"kernel-metadata.json: {what}")

    client = _client()
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
        bad("language must be python and kernel_type script")
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


def package_zip(comp: Competition) -> bytes:
    """kagglekit's package (every module and shipped TOML) plus the competition definition, as a zip."""
    if comp.source is None:
        raise KagglekitError(f"competition {comp.slug} has no definition file to put in the kernel")
    root = Path(__file__).resolve().parents[1]  # the kagglekit package
    parts = {}  # the path each comes from -> (name in the zip, bytes)
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.suffix in (".py", ".toml") and "__pycache__" not in rel.parts:
            parts[str(path)] = (f"kagglekit/{rel.as_posix()}", path.read_bytes())
    parts[str(comp.source)] = ("competition.toml", Path(comp.source).read_bytes())
    # Packed files are base64 in the script, where a key would not show: check them as they are.
    _refuse_secrets({where: data for where, (_, data) in parts.items()})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.values():
            zf.writestr(_entry(name), data)
    return buffer.getvalue()


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, _ZIP_TIME)  # a fixed time: the same source always gives the same script
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def kernel_options(spec: KernelSpec) -> dict:
    """What the script runs with: the competition, the resolved settings and what to do after training."""
    return {
        "competition": spec.competition.slug,
        "config": dataclasses.asdict(spec.config),
        "predict": spec.predict,
        "resume_from": [s.split("/")[1] for s in spec.kernel_sources],
        "session_seconds": session_limit(spec.gpu),
        "kagglekit": __version__,
        "kernel": spec.id,
    }


SCRIPT = '''\
"""{title}: a kagglekit kernel for the {slug} competition.

Built by kagglekit {version}. This one file carries kagglekit's source and the
competition definition (the zip below), so it needs no pip install and no
internet. It reads the competition from /kaggle/input/{slug}/ (never writing
there), trains {what} and writes the run folder (fold models, OOF
predictions, scores, logs{and_submission}) to /kaggle/working. Finished folds in
/kaggle/working or in an earlier version's output (kernel_sources) are kept:
a rerun resumes instead of starting over.

{input_env} and {working_env} move the two roots (for
running it outside Kaggle, e.g. in tests).
"""

OPTIONS = {options}

PAYLOAD_SHA1 = "{digest}"
PAYLOAD = """
{payload}
"""


def _unpack_source():
    """Extract the carried source once into a writable temporary folder and put it on sys.path."""
    import base64, io, os, sys, tempfile, zipfile

    root = os.path.join(os.environ.get("{kernel_tmp_env}") or tempfile.gettempdir(), "kagglekit-src-" + PAYLOAD_SHA1[:12])
    if not os.path.isdir(root):
        os.makedirs(os.path.dirname(root), exist_ok=True)
        partial = tempfile.mkdtemp(prefix=".kagglekit-src-", dir=os.path.dirname(root))
        zipfile.ZipFile(io.BytesIO(base64.b64decode(PAYLOAD))).extractall(partial)
        try:
            os.replace(partial, root)
        except OSError:  # another copy of the script got there first
            pass
    sys.path.insert(0, root)
    return root


if __name__ == "__main__":
    from pathlib import Path

    source = _unpack_source()
    from kagglekit.kernels.entry import main

    main(OPTIONS, Path(source) / "competition.toml")
'''


PREDICT_DOC = '''\
"""{title}: a kagglekit inference kernel for the {slug} competition.

Built by kagglekit {version}. This one file carries kagglekit's source and the
competition definition (the zip below), so it needs no pip install and no
internet. It trains nothing: it predicts with the finished folds of {source}
(a {kind} attached as an input, mounted under /kaggle/input), on the test
images and sample submission it finds in /kaggle/input/{slug}/ when it runs
(on a code competition's rerun, the hidden ones), with as many test-time
views as fit well inside the time limit, and writes /kaggle/working/submission.csv
once it matches that sample submission.

{input_env} and {working_env} move the two roots (for
running it outside Kaggle, e.g. in tests).
"""
'''


# The environment names that move a kernel's roots outside Kaggle, as the scripts spell them.
_ROOT_NAMES = {"input_env": INPUT_ENV, "working_env": WORKING_ENV, "kernel_tmp_env": KERNEL_TMP_ENV}


def predict_options(spec: KernelSpec) -> dict:
    """What an inference kernel runs with, besides kernel_options: its source of folds and its time limit."""
    if not spec.predict_from:
        return {}
    return {"predict_from": {"kind": spec.predict_from_kind, "ref": spec.predict_from},
            "time_limit": spec.competition.time_limit_seconds or kernel_options(spec)["session_seconds"]}


def kernel_script(spec: KernelSpec) -> str:
    """The kernel's one source file."""
    if spec.predict_from:
        return _predict_script(spec)
    payload = package_zip(spec.competition)
    encoded = base64.b64encode(payload).decode()
    lines = "\n".join(encoded[i:i + 100] for i in range(0, len(encoded), 100))
    what = f"fold {spec.config.fold}" if spec.config.fold is not None else f"{spec.config.folds} folds"
    return SCRIPT.format(
        title=spec.name, slug=spec.competition.slug, version=__version__, what=what,
        and_submission=", submission.csv" if spec.predict else "",
        options=pprint.pformat(kernel_options(spec), sort_dicts=False), digest=hashlib.sha1(payload).hexdigest(), payload=lines,
        **_ROOT_NAMES)


def _predict_script(spec: KernelSpec) -> str:
    """An inference kernel's source file: the same script, with its options and what it does said."""
    payload = package_zip(spec.competition)
    encoded = base64.b64encode(payload).decode()
    lines = "\n".join(encoded[i:i + 100] for i in range(0, len(encoded), 100))
    options = {**kernel_options(spec), **predict_options(spec)}
    script = SCRIPT.format(
        title=spec.name, slug=spec.competition.slug, version=__version__, what="", and_submission="",
        options=pprint.pformat(options, sort_dicts=False), digest=hashlib.sha1(payload).hexdigest(), payload=lines, **_ROOT_NAMES)
    doc = PREDICT_DOC.format(**_ROOT_NAMES, title=spec.name, slug=spec.competition.slug, version=__version__,
                             source=spec.predict_from, kind=spec.predict_from_kind)
    return doc + script[script.index('"""', 3) + 4:]  # the training kernel's docstring, replaced


def _secrets() -> list[tuple[str, str]]:
    """(where it comes from, value) of every Kaggle credential this environment holds, read by the client's own code."""
    found = [(name, os.environ.get(name) or "") for name in ("KAGGLE_KEY", "KAGGLE_API_TOKEN")]
    with contextlib.suppress(Exception), contextlib.redirect_stdout(io.StringIO()):
        from kagglesdk.kaggle_env import get_access_token_from_env

        client = _client()
        found.append(("the key in kaggle.json", client.read_config_file(quiet=True).get("key") or ""))
        found.append(("the access token", get_access_token_from_env()[0] or ""))
    return [(name, value) for name, value in found if len(value) >= 8]


def _refuse_secrets(parts: dict[str, bytes]) -> None:
    """Never write a kernel that contains the credentials of this environment, in any file it carries."""
    for where, data in parts.items():
        for name, value in _secrets():
            if value.encode() in data:
                raise KagglekitError(f"{where} holds the value of {name}; refusing to put it into a kernel "
                                     "(remove it from that file and build again)")


def source_mounts(spec: KernelSpec) -> dict[str, str]:
    """Attached source -> the folder Kaggle mounts it at inside the kernel."""
    mounts = {}
    for handle in spec.model_sources:  # owner/model/framework/variation/version
        _, model, framework, variation, version = handle.split("/")
        mounts[handle] = f"{KAGGLE_INPUT}/{model}/{framework}/{variation}/{version}"
    for handle in spec.dataset_sources:  # owner/slug
        mounts[handle] = f"{KAGGLE_INPUT}/{handle.split('/')[1]}"
    return mounts


def check_weights(spec: KernelSpec) -> None:
    """Refuse weights a kernel cannot read: a download without internet, or a file outside every attached source."""
    weights = spec.config.weights
    if weights in ("none", "", None):
        return
    if weights == "imagenet":
        if not spec.internet:
            raise KagglekitError("--weights imagenet downloads the weights, which a kernel without internet cannot; "
                                 "pass --internet, or attach them with --model-source and give --weights the file's "
                                 "path under it")
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
    script = kernel_script(spec)
    _refuse_secrets({"the kernel script": script.encode()})
    record = {"competition": spec.competition.slug, "competition_file": str(spec.competition.source),
              "spec": {k: v for k, v in dataclasses.asdict(spec).items() if k not in ("competition", "config")},
              "config": dataclasses.asdict(spec.config), "built": time.strftime("%Y-%m-%d %H:%M:%S")}
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.py"):  # a renamed kernel leaves no second code file behind
        if stale.name != meta["code_file"]:
            stale.unlink()
    write_text(folder / meta["code_file"], script)
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


def fold_specs(spec: KernelSpec) -> list[KernelSpec]:
    """One kernel per fold (each trains only its fold, no submission), for a fan-out."""
    if spec.config.fold is not None:
        raise KagglekitError("this kernel already trains a single fold (--fold); build it without --fold to fan out")
    if spec.predict_from:
        raise KagglekitError("an inference kernel trains no folds to fan out; push it without --folds-parallel")
    base = spec.name[:50 - len(f"-fold{spec.config.folds - 1}")].rstrip("-")  # slugs are at most 50 characters
    return [dataclasses.replace(spec, name=f"{base}-fold{k}", config=spec.config.replace(fold=k), predict=False,
                                fan_out_of=spec.name) for k in range(spec.config.folds)]
