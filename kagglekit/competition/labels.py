"""Where a new competition's training labels come from: a CSV, the file names, or class folders.

Part of inferring a competition definition (see kagglekit.competition.infer).
Each source is tried on the training images; a source that fits yields the
label of every image and the definition lines that say how. When two sources
fit and disagree, or one source fits in two ways, the question is put back
to the user with the candidates and the key that settles it.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from kagglekit.competition.toml import Draft
from kagglekit.core.errors import KagglekitError

# Column names that say "this is the label" when a CSV has several few-valued columns.
LABEL_NAMES = {"label", "labels", "target", "class", "category", "y"}
NUMBERED_NAME = re.compile(r"^(?P<label>.+?)(?P<sep>[._-])\d+$")  # stems like cat.0, golden_retriever_12, dog-7


@dataclass(frozen=True)
class ImageSet:
    """The images of one top-level entry of a download: a folder or a zip."""

    name: str
    images: tuple[PurePosixPath, ...]  # paths inside the folder or the zip
    archive: bool

    def keys(self, id_format: str) -> set[str]:
        """The ids its files are known by, without (stem) or with (name) the extension."""
        return {p.stem if id_format == "stem" else p.name for p in self.images}


class Undecided(Exception):
    """The files leave KEY open between candidates; the caller says how to settle it."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key, self.message = key, message


@dataclass
class LabelSource:
    """One way of labelling the training images, with the definition lines that say so."""

    source: str
    labels: list[str | None]  # per training image, in ImageSet order
    lines: list[tuple[str, Any, str]] = field(default_factory=list)


def names(items, limit: int = 4) -> str:
    """ITEMS as a short comma-separated list."""
    items = [str(i) for i in items]
    return ", ".join(items[:limit]) + (f" and {len(items) - limit} more" if len(items) > limit else "")


def natural(text: str):
    """Sort key that puts '2' before '10'."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def _few(values: int, rows: int) -> bool:
    """Few enough distinct values to be classes: two or more, and at least three rows a class on average."""
    return 2 <= values <= max(2, rows // 3)


def by_folders(train: ImageSet) -> LabelSource | None:
    """Labels from the folder each image sits in, when all sit one level down in a few folders."""
    parents = [p.parent.name for p in train.images]
    classes = sorted(set(parents), key=natural)
    depths = {len(p.parts) for p in train.images}
    if len(depths) != 1 or min(depths) < 2 or not _few(len(classes), len(parents)):
        return None
    note = f"every training image sits in one of {len(classes)} class folders ({names(classes)})"
    return LabelSource("folders", parents, [("labels.source", "folders", note)])


def by_filename(train: ImageSet) -> LabelSource | None:
    """Labels from file names LABEL<sep>N shared by all training files, with a few distinct labels."""
    matches = [NUMBERED_NAME.match(p.stem) for p in train.images]
    hits = [m for m in matches if m and re.search(r"[^\W\d_]", m["label"])]
    if not hits:
        return None
    sep = Counter(m["sep"] for m in hits).most_common(1)[0][0]
    hits = [m for m in hits if m["sep"] == sep]
    labels = sorted({m["label"] for m in hits}, key=natural)
    if not _few(len(labels), len(hits)) or len(hits) * 2 < len(matches):
        return None
    if len(hits) < len(matches):
        other = next(p.name for p, m in zip(train.images, matches) if m not in hits)
        raise Undecided("labels.pattern", f"{len(hits)} of {len(matches)} training file names look like "
                                          f"LABEL{sep}N ({names(labels)}) but the others do not (first: {other})")
    pattern = f"^(?P<label>{'|'.join(re.escape(c) for c in labels)}){re.escape(sep)}"
    return LabelSource("filename", [m["label"] for m in matches], [
        ("labels.source", "filename", f"every training file name is LABEL{sep}N, e.g. {train.images[0].name}"),
        ("labels.pattern", pattern, f"the {len(labels)} prefixes of the training file names"),
    ])


def by_pattern(train: ImageSet, pattern: str) -> LabelSource:
    """Labels from a pattern the user gave."""
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise KagglekitError(f"labels.pattern is not a valid regex: {exc}") from None
    found = [compiled.search(p.name) for p in train.images]
    labels = [m.groupdict().get("label") if m else None for m in found]
    return LabelSource("filename", labels, [("labels.source", "filename", "labels.pattern was given"),
                                            ("labels.pattern", pattern, "")])


def _id_column(table, stems: set[str], file_names: set[str]) -> tuple[str, bool] | None:
    """The column holding the training file names (and whether without extension), or None."""
    for column in table.columns:
        values = set(table[column])
        keys = max((stems, file_names), key=lambda k: len(k & values))
        common = len(keys & values)
        if common and common >= 0.9 * len(keys) and common >= 0.9 * len(values):
            return column, keys is stems
    return None


def _label_columns(table, id_column: str, prefer: list[str]) -> list[str]:
    found = [c for c in table.columns if c != id_column and (table[c] != "").all() and _few(table[c].nunique(), len(table))]
    for wanted in (set(prefer), LABEL_NAMES):
        named = [c for c in found if c in wanted or c.lower() in wanted]
        if len(found) > 1 and len(named) == 1:
            return named
    return found


def by_csv(draft: Draft, data_dir: Path, train: ImageSet, csvs: list[str], prefer: list[str]) -> LabelSource | None:
    """Labels from a CSV with a row per training image and a column of few distinct values.

    PREFER names columns to choose when several could hold the labels (the sample submission's value column).
    """
    from kagglekit.core.files import read_csv_text

    given = draft.given("labels.file")
    stems, file_names = train.keys("stem"), train.keys("name")
    fits = []
    for name in [given] if given else csvs:
        table = read_csv_text(data_dir / name, "CSV file")
        found = _id_column(table, stems, file_names)
        if found:
            fits.append((name, table, *found))
    if not fits:
        return None
    if len(fits) > 1:
        raise Undecided("labels.file", f"{len(fits)} CSV files have a row for each training image: {names(f[0] for f in fits)}")
    name, table, id_column, by_stem = fits[0]
    given_column = draft.given("labels.label_column")
    columns = [given_column] if given_column else _label_columns(table, id_column, prefer)
    if len(columns) != 1:
        described = ", ".join(f"'{c}' ({table[c].nunique()} values)" for c in columns) or "none"
        raise Undecided("labels.label_column", f"{name} has a row per training image and {len(columns)} columns "
                                               f"that could hold the labels: {described}")
    column = columns[0]
    if column not in table.columns:
        raise KagglekitError(f"labels.label_column = '{column}' is not a column of {name} ({', '.join(table.columns)})")
    by_id = dict(zip(table[id_column], table[column]))
    classes = sorted(set(table[column]), key=natural)
    return LabelSource("csv", [by_id.get(p.stem if by_stem else p.name) for p in train.images], [
        ("labels.source", "csv", f"{name} has a row per training image"),
        ("labels.file", name, f"its column '{id_column}' holds the training file names"),
        ("labels.id_column", id_column, f"file names {'without' if by_stem else 'with'} the extension, "
                                        f"e.g. {table[id_column].iloc[0]}"),
        ("labels.label_column", column, f"{len(classes)} distinct values: {names(classes)}"),
    ])


def infer_labels(draft: Draft, data_dir: Path, train: ImageSet, csvs: list[str], prefer: list[str]) -> LabelSource:
    """The one label source that fits the training images, or Undecided naming the candidates."""
    source = draft.given("labels.source")
    if source in (None, "filename") and draft.given("labels.pattern"):
        return by_pattern(train, draft.given("labels.pattern"))
    finders = {"folders": lambda: by_folders(train), "filename": lambda: by_filename(train),
               "csv": lambda: by_csv(draft, data_dir, train, csvs, prefer)}
    options, questions = [], []
    for name, find in finders.items():
        if source not in (None, name):
            continue
        try:
            option = find()
        except Undecided as question:
            questions.append(question)
            continue
        if option:
            options.append(option)
    if not options:
        if questions:
            raise questions[0]
        raise Undecided("labels.source", "no CSV with a row per training image, no class folders, and no "
                                         "LABEL.N file-name pattern shared by the training files")
    if any(o.labels != options[0].labels for o in options[1:]):
        raise Undecided("labels.source", f"the labels could come from {' or '.join(o.source for o in options)}, "
                                         "and they disagree")
    return options[0]  # sources that agree: the first (folders, file names, CSV) says it most simply
