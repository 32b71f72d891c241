"""Competition bundles: the files a sandbox competition serves, and its download zip.

A bundle is a folder laid out like Kaggle's download (``train.zip``,
``test1.zip``, ``sampleSubmission.csv`` ...) plus a sealed ``solution.csv``.
The folder's ``competition.toml`` names the competition; without one, the
folder name is the slug of a definition kagglekit knows, or else the
definition is inferred from the files (and logged). The solution, the
definition and a README are never served.

A bundle carries the evaluation metric that Kaggle's record of the competition
names, in Kaggle's words (what ``competitions list`` serves): the definition's
metric as Kaggle words it, or for an inferred definition only what ``--metric``
said; without it the record's metric stays empty, because the inferred one is a
guess from the submission kind.

A code competition (``[submission] via = "kernel"``) also keeps its hidden
test set in ``hidden/``, laid out like the public files it replaces
(``hidden/test/``, ``hidden/sample_submission.csv``) plus the hidden
``solution.csv``. Nothing under ``hidden/`` is served: only the rerun of a
submitted kernel sees it, mounted in place of the public files.
"""

from __future__ import annotations

import hashlib
import logging
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import formatdate
from pathlib import Path

from kagglekit.competition.definition import Competition, known_competitions, load_competition, load_competition_file
from kagglekit.core.atomic import atomic_open
from kagglekit.core.errors import KagglekitError

log = logging.getLogger("kagglekit.sandbox")
NOT_SERVED = {"competition.toml", "README.md"}
HIDDEN = "hidden"  # a code competition's hidden test set, sample submission and solution
# Already-compressed members are stored, not deflated again (fast to build, same size).
STORED_SUFFIXES = {".zip", ".jpg", ".jpeg", ".png", ".gz", ".7z"}


@dataclass(frozen=True)
class Bundle:
    """One competition as the sandbox serves it."""

    comp: Competition
    folder: Path
    files: tuple[str, ...]  # relative POSIX paths that may be downloaded
    etag: str  # changes whenever a served file changes
    modified: float  # newest mtime of a served file (epoch seconds)
    evaluation_metric: str = ""  # Kaggle's record's words for the metric; "" when not known (an inferred definition)

    @property
    def slug(self) -> str:
        return self.comp.slug

    @property
    def last_modified(self) -> str:
        """The HTTP date of the newest served file."""
        return formatdate(self.modified, usegmt=True)

    @property
    def solution(self) -> Path | None:
        """The sealed solution file, when the folder has one."""
        path = self.folder / (self.comp.files.solution or "solution.csv")
        return path if path.is_file() else None

    @property
    def hidden(self) -> Path | None:
        """The folder of a code competition's hidden test set, when the bundle has one."""
        path = self.folder / HIDDEN
        return path if self.comp.is_code_competition and path.is_dir() else None

    def rerun_files(self) -> tuple[dict[str, Path], Path | None]:
        """What a code competition's rerun mounts (name -> file) and the solution it is scored against.

        Each top-level entry of hidden/ (the test folder or zip, the sample submission) takes
        the place of the public entry of that name; without hidden/, the public files and
        solution stand in for it.
        """
        if self.hidden is None:
            return {name: self.folder / name for name in self.files}, self.solution
        solution_name = self.comp.files.solution or "solution.csv"
        replaced = {p.name for p in self.hidden.iterdir() if p.name != solution_name}
        files = {name: self.folder / name for name in self.files if name.split("/")[0] not in replaced}
        for path in sorted(self.hidden.rglob("*")):
            name = path.relative_to(self.hidden).as_posix()
            if path.is_file() and name != solution_name:
                files[name] = path
        solution = self.hidden / solution_name
        return files, solution if solution.is_file() else None

    def file_path(self, name: str) -> Path | None:
        """The path of served file NAME, or None when NAME is not served (the solution never is)."""
        return self.folder / name if name in self.files else None

    def created(self, name: str) -> datetime:
        """When served file NAME last changed (UTC, no tzinfo, as kagglesdk serializes)."""
        stamp = (self.folder / name).stat().st_mtime
        return datetime.fromtimestamp(stamp, timezone.utc).replace(tzinfo=None)


def _served_files(folder: Path, solution: str, code: bool = False) -> list[str]:
    names = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if not path.is_file() or any(part.startswith(".") for part in rel.split("/")):
            continue
        if rel in NOT_SERVED or rel == solution or (code and rel.split("/")[0] == HIDDEN):
            continue
        names.append(rel)
    return names


def served_metric(text: str) -> tuple[str, str]:
    """(kagglekit's metric, Kaggle's words for it) for --metric TEXT: a kagglekit metric name or Kaggle's wording."""
    from kagglekit.competition.infer import metric_from_kaggle
    from kagglekit.competition.metrics import get_metric, list_metrics

    if text in list_metrics():
        return text, get_metric(text).kaggle_name
    mapped = metric_from_kaggle(text)
    if mapped is None:
        raise KagglekitError(f"--metric '{text}' is not a metric the sandbox can score with; give one of "
                             f"{', '.join(list_metrics())}, or Kaggle's words for one (e.g. 'Area Under ROC Curve')")
    return mapped, text


def _definition(folder: Path, metric: str | None = None) -> tuple[Competition, str]:
    """FOLDER's definition and the evaluation metric its record names (METRIC: --metric, for an inferred one)."""
    from kagglekit.competition.metrics import get_metric

    toml = folder / "competition.toml"
    if toml.is_file() or folder.name in known_competitions():
        comp = load_competition_file(toml) if toml.is_file() else load_competition(folder.name)
        return comp, get_metric(comp.metric).kaggle_name
    from kagglekit.competition.infer import infer_definition

    how = (f"write {toml}, or run 'kagglekit init -c {folder.name} --data-dir {folder} --set {{key}}=VALUE' "
           "here (the sandbox finds that definition by the folder's name)")
    given, words = served_metric(metric) if metric else (None, "")
    inferred = infer_definition(folder, folder.name, settings={"metric": given} if given else None,
                                exclude=NOT_SERVED, how_to_set=how, origin=" sandbox")
    log.info("%s has no competition definition; serving it as %s with this inferred one:\n%s",
             folder, folder.name, inferred.text.rstrip())
    for warning in inferred.warnings:
        log.warning("%s: %s", folder.name, warning)
    if not given:
        log.warning("%s: its evaluation metric is listed empty (the inferred '%s' is a guess); pass --metric NAME "
                    "to serve Kaggle's", folder.name, inferred.competition.metric)
    return inferred.competition, words


def load_bundle(folder: Path, comp: Competition | None = None, metric: str | None = None) -> Bundle:
    """Read the bundle in FOLDER (its definition, its served files and their fingerprint).

    METRIC (``--metric``) is Kaggle's record's metric for a folder whose definition is inferred."""
    folder = Path(folder)
    if not folder.is_dir():
        raise KagglekitError(f"competition folder {folder} does not exist; check --data")
    if comp is None:
        comp, words = _definition(folder, metric)
    else:
        from kagglekit.competition.metrics import get_metric

        words = get_metric(comp.metric).kaggle_name
    files = _served_files(folder, comp.files.solution or "solution.csv", comp.is_code_competition)
    if not files:
        raise KagglekitError(f"competition folder {folder} has no files to serve")
    digest = hashlib.sha1(comp.slug.encode())
    newest = 0.0
    for name in files:
        stat = (folder / name).stat()
        digest.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
        newest = max(newest, stat.st_mtime)
    return Bundle(comp, folder, tuple(files), digest.hexdigest()[:20], newest, words)


def bundle_zip(bundle: Bundle, cache_dir: Path) -> Path:
    """The bundle's download zip, built once per fingerprint (atomically) under CACHE_DIR."""
    path = Path(cache_dir) / "bundles" / f"{bundle.slug}-{bundle.etag}.zip"
    if path.is_file():
        return path
    with atomic_open(path, "wb") as fh, zipfile.ZipFile(fh, "w") as zf:
        for name in bundle.files:
            suffix = Path(name).suffix.lower()
            method = zipfile.ZIP_STORED if suffix in STORED_SUFFIXES else zipfile.ZIP_DEFLATED
            zf.write(bundle.folder / name, name, compress_type=method)
    return path


def file_zip(bundle: Bundle, name: str, cache_dir: Path) -> Path:
    """Served file NAME alone in a zip named NAME.zip, as Kaggle serves a large single file (built once, atomically)."""
    path = Path(cache_dir) / "bundles" / f"{bundle.slug}-{bundle.etag}" / f"{name}.zip"
    if path.is_file():
        return path
    with atomic_open(path, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(bundle.folder / name, Path(name).name)
    return path


def demo_bundle(cache_dir: Path) -> Bundle:
    """The built-in demo competition, written into CACHE_DIR on first use."""
    from kagglekit.competition import demo

    folder = demo.write_demo_competition(Path(cache_dir) / demo.SLUG)
    return load_bundle(folder, load_competition(demo.SLUG))


def demo_code_bundle(cache_dir: Path) -> Bundle:
    """The built-in code competition (the digits with a hidden test set), written into CACHE_DIR on first use."""
    from kagglekit.competition import demo

    folder = demo.write_demo_code_competition(Path(cache_dir) / demo.CODE_SLUG, HIDDEN)
    return load_bundle(folder, load_competition(demo.CODE_SLUG))


def has_definition(folder: Path) -> bool:
    """Whether FOLDER names its competition (its competition.toml, or a slug kagglekit knows) rather than being inferred."""
    return (Path(folder) / "competition.toml").is_file() or Path(folder).name in known_competitions()


def discover(folders: list[Path], cache_dir: Path, with_demo: bool = True, metric: str | None = None) -> dict[str, Bundle]:
    """Slug -> Bundle for the demo and each folder; a slug served twice is an error.

    METRIC (``--metric``) is Kaggle's record's metric of the folders whose definitions are inferred."""
    if metric and all(has_definition(f) for f in folders):
        raise KagglekitError("--metric is Kaggle's record's metric for a --data folder without a definition; every "
                             "folder given has one (its metric is in its competition.toml or kagglekit's definition)")
    bundles = [load_bundle(f, metric=metric) for f in folders]  # first: a bad folder fails before the demo is written
    bundles += [demo_bundle(cache_dir), demo_code_bundle(cache_dir)] if with_demo else []
    found: dict[str, Bundle] = {}
    for bundle in bundles:
        if bundle.slug in found:
            raise KagglekitError(f"competition {bundle.slug} is served from both {found[bundle.slug].folder} and {bundle.folder}")
        found[bundle.slug] = bundle
    return found
