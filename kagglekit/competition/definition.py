"""Competition definitions: one TOML file says everything kagglekit needs.

A definition is found by slug in ``./competitions/`` (any ``*.toml`` below it
whose ``slug`` matches), then among the definitions shipped with the package;
a path to a ``.toml`` file works too. ``kagglekit use SLUG`` stores a default
in ``./kagglekit.toml`` so that bare commands know which competition to use.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from importlib import resources
from pathlib import Path

from kagglekit.core.errors import KagglekitError

log = logging.getLogger("kagglekit")

LABEL_SOURCES = ("filename", "csv", "folders")
SUBMISSION_KINDS = ("probability", "label", "class_columns")
ID_FORMATS = ("stem", "name")
LABEL_FORMATS = ("index", "name")
SUBMITTED_VIA = ("file", "kernel")
# Kaggle's competition categories, as its listing words them (``kaggle competitions list --category``).
CATEGORIES = ("Featured", "Research", "Recruitment", "Getting Started", "Masters", "Playground", "Community",
              "Analytics")  # an uploaded CSV, or a code competition's rerun of a kernel version
DEFAULTS_FILE = "kagglekit.toml"


@dataclass(frozen=True)
class Files:
    """Which files of the competition's download hold what."""

    train: str
    test: str
    sample_submission: str | None = None
    solution: str | None = None  # sealed answers, read by the sandbox only
    # Archives inside the download that `fetch` unpacks (e.g. a zip in a zip).
    unpack: tuple[str, ...] = ()


@dataclass(frozen=True)
class Labels:
    """Where training labels come from."""

    source: str = "filename"
    pattern: str | None = None  # regex with a named group `label`, on the file name
    file: str | None = None  # csv source: the labels file
    id_column: str = "id"
    label_column: str = "label"
    classes: tuple[str, ...] = ()  # order gives the class index; empty = sorted labels seen


@dataclass(frozen=True)
class Submission:
    """The exact layout Kaggle expects in a submission file."""

    kind: str = "label"
    id_column: str = "id"
    columns: tuple[str, ...] = ()  # empty = taken from the sample submission
    id_format: str = "stem"  # "1" (stem) or "1.jpg" (name)
    label_column: str = "label"  # for probability and label kinds
    label_format: str = "index"  # hard labels as class index or class name
    positive_class: str | None = None  # probability kind: which class the value is for
    clip: tuple[float, float] | None = None  # clip probabilities (log loss)
    float_format: str = "%.6f"
    via: str = "file"  # "kernel": a code competition, scored on Kaggle's rerun of a kernel on its hidden test set
    time_limit: str | None = None  # a code competition's limit on that rerun, e.g. "9h"


@dataclass(frozen=True)
class Competition:
    """A parsed, checked competition definition."""

    slug: str
    title: str
    files: Files
    labels: Labels
    submission: Submission
    metric: str
    url: str = ""
    source: Path | None = None  # the TOML file it came from
    train_defaults: dict = field(default_factory=dict)
    # Kaggle's record of it, as its listing shows them (the sandbox serves these): "" or None when not known.
    category: str = ""  # one of CATEGORIES
    deadline: datetime | None = None  # UTC, no tzinfo
    reward: str = ""  # "$25,000", "Knowledge", "Kudos", "Swag"

    @property
    def rules_url(self) -> str:
        """Where a user accepts the competition's rules."""
        return f"{self.url or 'https://www.kaggle.com/competitions/' + self.slug}/rules"

    @property
    def n_classes(self) -> int:
        return len(self.labels.classes)

    @property
    def is_code_competition(self) -> bool:
        """True when Kaggle takes kernel versions, not files, and scores its rerun of them on a hidden test set."""
        return self.submission.via == "kernel"

    @property
    def time_limit_seconds(self) -> float | None:
        """The rerun's time limit of a code competition, in seconds (None when the definition gives none)."""
        from kagglekit.core.config import parse_duration

        return parse_duration(self.submission.time_limit) if self.submission.time_limit else None

    @property
    def positive_index(self) -> int:
        """Index of the class whose probability a binary submission holds."""
        if self.submission.positive_class is None:
            return len(self.labels.classes) - 1
        return self.labels.classes.index(self.submission.positive_class)


_SECTIONS = {"files": Files, "labels": Labels, "submission": Submission}
_TOP_KEYS = {"slug", "title", "url", "metric", "files", "labels", "submission", "train", "category", "deadline",
             "reward"}


def parse_competition(data: dict, source: Path | None = None) -> Competition:
    """Build a Competition from TOML data, rejecting unknown keys by name."""
    where = f" in {source}" if source else ""
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise KagglekitError(
            f"unknown key '{sorted(unknown)[0]}'{where}; valid top-level keys: {', '.join(sorted(_TOP_KEYS))}"
        )
    for key in ("slug", "files", "metric"):
        if key not in data:
            raise KagglekitError(f"competition definition{where} is missing '{key}'; see the README's TOML format")
    for key in ("slug", "title", "url", "metric", "category", "reward"):
        if key in data and not isinstance(data[key], str):
            raise KagglekitError(f"'{key}'{where} must be a string (in quotes), not {data[key]!r}")
    for key in (*_SECTIONS, "train"):
        if key in data and not isinstance(data[key], dict):
            raise KagglekitError(f"'{key}'{where} must be a table ([{key}] with its keys below), not {data[key]!r}")
    parts = {}
    for name, cls in _SECTIONS.items():
        section = dict(data.get(name, {}))
        _check_types(name, section, cls, where)
        valid = set(cls.__dataclass_fields__)
        bad = set(section) - valid
        if bad:
            raise KagglekitError(
                f"unknown key '{name}.{sorted(bad)[0]}'{where}; valid keys: {', '.join(sorted(valid))}"
            )
        for key, value in section.items():
            if isinstance(value, list):
                section[key] = tuple(value)
        try:
            parts[name] = cls(**section)
        except TypeError as exc:
            raise KagglekitError(f"section [{name}]{where} is incomplete ({exc}); see the README's TOML format") from None
    from kagglekit.core.config import check_train_table

    check_train_table(data.get("train", {}), where)
    comp = Competition(
        slug=data["slug"],
        title=data.get("title", data["slug"]),
        url=data.get("url", ""),
        metric=data["metric"],
        source=source,
        train_defaults=dict(data.get("train", {})),
        category=data.get("category", ""),
        deadline=_deadline(data.get("deadline"), where),
        reward=data.get("reward", ""),
        **parts,
    )
    _check(comp, where)
    return comp


def _deadline(value, where: str) -> datetime | None:
    """A TOML date (the day ends at 23:59 UTC, as Kaggle's deadlines do), date-time or ISO string, as UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value) if "T" in value or " " in value else date.fromisoformat(value)
        except ValueError:
            value = None
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, date):
        return datetime.combine(value, time(23, 59))
    raise KagglekitError(f"'deadline'{where} must be a date such as 2014-02-01 (or 2014-02-01T23:59:00Z); "
                         "fix the competition file")


def _check_types(name: str, section: dict, cls, where: str) -> None:
    """Refuse a value of the wrong type in [NAME], naming the key and the type it needs."""
    hints = typing.get_type_hints(cls)
    for key, value in section.items():
        if key not in hints:
            continue
        expected = hints[key]
        optional = typing.get_origin(expected) in (typing.Union, types.UnionType)
        kind = next(a for a in typing.get_args(expected) if a is not type(None)) if optional else expected
        if typing.get_origin(kind) is tuple:
            inner = typing.get_args(kind)
            numbers = inner and inner[0] is float
            ok = isinstance(value, list) and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) if numbers else isinstance(v, str) for v in value)
            need = f"a list of {'numbers' if numbers else 'strings'}"
        else:
            ok, need = isinstance(value, str), "a string (in quotes)"
        if not ok:
            raise KagglekitError(f"{name}.{key}{where} must be {need}, not {value!r}; fix the competition file")


def _check(comp: Competition, where: str) -> None:
    from kagglekit.competition.metrics import list_metrics

    labels, sub = comp.labels, comp.submission
    choices = [
        ("labels.source", labels.source, LABEL_SOURCES),
        ("submission.kind", sub.kind, SUBMISSION_KINDS),
        ("submission.id_format", sub.id_format, ID_FORMATS),
        ("submission.label_format", sub.label_format, LABEL_FORMATS),
        ("submission.via", sub.via, SUBMITTED_VIA),
        ("metric", comp.metric, list_metrics()),
        *([("category", comp.category, CATEGORIES)] if comp.category else []),
    ]
    for key, value, valid in choices:
        if value not in valid:
            raise KagglekitError(f"{key} = '{value}'{where} is not one of: {', '.join(valid)}")
    if labels.source == "filename":
        if not labels.pattern:
            raise KagglekitError(f"labels.pattern is required for labels from file names{where}")
        try:
            compiled = re.compile(labels.pattern)
        except re.error as exc:
            raise KagglekitError(f"labels.pattern{where} is not a valid regex: {exc}") from None
        if "label" not in compiled.groupindex:
            raise KagglekitError(f"labels.pattern{where} needs a named group, e.g. '^(?P<label>cat|dog)\\.'")
    if labels.source == "csv" and not labels.file:
        raise KagglekitError(f"labels.file is required for labels from a CSV{where}")
    if len(labels.classes) < 2:
        raise KagglekitError(f"labels.classes{where} must list at least two classes")
    if len(set(labels.classes)) != len(labels.classes):
        raise KagglekitError(f"labels.classes{where} lists a class twice")
    if sub.positive_class is not None and sub.positive_class not in labels.classes:
        raise KagglekitError(f"submission.positive_class '{sub.positive_class}'{where} is not in labels.classes")
    if sub.kind == "probability" and len(labels.classes) != 2:
        raise KagglekitError(f"submission.kind 'probability' needs two classes{where}; use 'class_columns'")
    if sub.clip is not None and not (len(sub.clip) == 2 and 0 <= sub.clip[0] < sub.clip[1] <= 1):
        raise KagglekitError(f"submission.clip{where} must be [low, high] with 0 <= low < high <= 1")
    if sub.time_limit is not None:
        if sub.via != "kernel":
            raise KagglekitError(f"submission.time_limit{where} is the limit of a code competition's rerun; "
                                 'add via = "kernel" or remove it')
        try:
            comp.time_limit_seconds
        except KagglekitError as exc:
            raise KagglekitError(f"submission.time_limit{where}: {exc}") from None


def load_competition_file(path: Path) -> Competition:
    """Read and check one competition TOML file."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise KagglekitError(f"competition file {path} does not exist; check the path") from None
    except tomllib.TOMLDecodeError as exc:
        raise KagglekitError(f"{path} is not valid TOML ({exc}); fix the file and run again") from None
    return parse_competition(data, source=Path(path))


def _shipped() -> list[Path]:
    """The definitions that come with the package (the one source of truth for the competitions it ships)."""
    return sorted(Path(str(p)) for p in resources.files("kagglekit.competition.builtin").iterdir() if p.name.endswith(".toml"))


def _slug_of(path: Path) -> str | None:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh).get("slug")
    except (OSError, tomllib.TOMLDecodeError):
        return None


def known_competitions(search_dir: Path = Path("competitions")) -> dict[str, Path]:
    """Slug -> definition file, local definitions taking precedence over shipped ones."""
    local = sorted(search_dir.glob("**/*.toml")) if search_dir.is_dir() else []
    found: dict[str, Path] = {}
    for path in local + _shipped():
        slug = _slug_of(path)
        if slug and slug not in found:
            found[slug] = path
    return found


def default_competition() -> str | None:
    """The competition named by KAGGLEKIT_COMPETITION or ./kagglekit.toml, if any."""
    if os.environ.get("KAGGLEKIT_COMPETITION"):
        return os.environ["KAGGLEKIT_COMPETITION"]
    path = Path(DEFAULTS_FILE)
    if path.is_file():
        try:
            with open(path, "rb") as fh:
                return tomllib.load(fh).get("competition")
        except tomllib.TOMLDecodeError as exc:
            raise KagglekitError(f"{path} is not valid TOML ({exc}); fix it or delete it") from None
    return None


def set_default_competition(name: str) -> Competition:
    """Check that NAME resolves, then store it as the default in ./kagglekit.toml."""
    from kagglekit.core.atomic import write_text

    comp = load_competition(name)
    write_text(Path(DEFAULTS_FILE), f"competition = {json.dumps(name)}\n")  # a JSON string is a TOML basic string
    return comp


def load_competition(name: str | None = None, search_dir: Path = Path("competitions")) -> Competition:
    """Resolve a slug, a TOML path, or the stored default into a Competition."""
    name = name or default_competition()
    if not name:
        raise KagglekitError("no competition given; pass -c SLUG or set a default with 'kagglekit use SLUG'")
    if name.endswith(".toml") or os.sep in name:
        return load_competition_file(Path(name))
    found = known_competitions(search_dir)
    if name not in found:
        raise KagglekitError(
            f"unknown competition '{name}'; known: {', '.join(sorted(found))} (or pass a path to a .toml file)"
        )
    shipped = {_slug_of(p): p for p in _shipped()}
    if name in shipped and found[name] != shipped[name]:
        log.warning("using %s, which overrides kagglekit's own definition of %s", found[name], name)
    return load_competition_file(found[name])
