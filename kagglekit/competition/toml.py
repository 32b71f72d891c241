"""Writing competition definitions: TOML with a comment on each line, placed where `-c SLUG` finds it.

tomllib only reads, so the few TOML forms a definition needs (strings,
numbers, booleans, flat lists, tables) are written here. Whatever is written
is read back through the same parser that loads definitions before it is
kept, and the file appears whole or not at all.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

from kagglekit.competition.definition import Files, Labels, Submission, known_competitions
from kagglekit.core.errors import KagglekitError

SECTIONS = {"": ("slug", "title", "url", "metric"), "files": tuple(f.name for f in fields(Files)),
            "labels": tuple(f.name for f in fields(Labels)), "submission": tuple(f.name for f in fields(Submission)),
            "train": ()}
COMMENT_COLUMN = 30  # where comments start, as in the shipped definitions
_UNSAFE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # characters TOML allows in neither comments nor literal strings


class Draft:
    """A definition being built: each value with a note of where it came from; values the user set win."""

    def __init__(self, settings: dict[str, Any] | None = None):
        self.settings = dict(settings or {})
        self.values: dict[str, dict[str, tuple[Any, str]]] = {name: {} for name in SECTIONS}
        self.warnings: list[str] = []

    def given(self, key: str) -> Any:
        """The value the user set for KEY ('section.name'), or None."""
        return self.settings.get(key)

    def put(self, key: str, value: Any, note: str) -> None:
        """Record KEY = VALUE with NOTE saying where it came from (a value the user set wins)."""
        if key in self.settings:
            value, note = self.settings[key], "set by you (--set)"
        section, _, name = key.rpartition(".")
        if value is not None:
            self.values[section][name] = (value, note)

    def get(self, key: str) -> Any:
        """The value recorded for KEY, or None."""
        section, _, name = key.rpartition(".")
        return self.values[section].get(name, (None, ""))[0]

    def warn(self, text: str) -> None:
        """Note something the user must check."""
        self.warnings.append(text)

    def settle(self) -> None:
        """Record the values the user set that nothing asked for."""
        for key, value in self.settings.items():
            self.put(key, value, "")

    def render(self, header: list[str]) -> str:
        """The definition as TOML, HEADER lines first, a comment with its note on each line."""
        lines = [f"# {_UNSAFE.sub(' ', h)}" for h in header]
        for section, order in SECTIONS.items():
            entries = self.values[section]
            keys = sorted(entries, key=lambda k: order.index(k) if k in order else len(order))
            if not keys:
                continue
            if section:
                lines += ["", f"[{section}]"]
            for key in keys:
                value, note = entries[key]
                text = f"{key} = {toml_value(value)}"
                lines.append(f"{text:<{COMMENT_COLUMN}} # {_UNSAFE.sub(' ', note)}" if note else text)
        return "\n".join(lines) + "\n"


def toml_value(value: Any) -> str:
    """VALUE written as TOML (str, bool, int, float or a flat list of them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        # Regexes read best as literal strings: '^(?P<label>cat|dog)\.' rather than "^(?P<label>cat|dog)\\."
        if "\\" in value and "'" not in value and not _UNSAFE.search(value):
            return f"'{value}'"
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def settable_keys() -> set[str]:
    """The keys `--set` takes: 'title', 'metric', 'files.train', 'labels.classes', 'train.image_size'..."""
    from kagglekit.core.config import TrainConfig

    keys = {k for k in SECTIONS[""] if k != "slug"}
    keys |= {f"{section}.{name}" for section, names in SECTIONS.items() if section for name in names}
    return keys | {f"train.{f.name}" for f in fields(TrainConfig) if f.name not in ("fold", "sample")}


def parse_settings(items: list[str] | None) -> dict[str, Any]:
    """KEY=VALUE pairs from `--set` as TOML values: lists and numbers as TOML reads them, the rest as text."""
    keys, out = settable_keys(), {}
    for item in items or []:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or key not in keys:
            raise KagglekitError(f"--set '{item}' is not KEY=VALUE with a key of the competition file "
                                 "(e.g. labels.label_column=breed, metric=roc_auc, labels.classes=[\"a\", \"b\"])")
        try:
            value = tomllib.loads(f"v = {text.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = text.strip()
        if not isinstance(value, list) and not key.startswith("train.") and key != "submission.clip":
            value = value if isinstance(value, str) else text.strip()
        out[key] = value
    return out


def definition_target(slug: str, force: bool = False, search_dir: Path = Path("competitions")) -> Path:
    """Where a new definition of SLUG goes: the local file that defines it, else competitions/<slug>/competition.toml.

    An existing definition (local or shipped) is replaced only with FORCE.
    """
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", slug or "") or slug.endswith(".toml"):
        raise KagglekitError(f"'{slug}' is not a competition slug; pass the name from the competition's URL, "
                             "e.g. -c dogs-vs-cats")
    known = known_competitions(search_dir).get(slug)
    if known is not None and not force:
        raise KagglekitError(f"{slug} already has a definition ({known}); edit it, or pass --force to replace it "
                             "with an inferred one")
    local = known if known is not None and _inside(known, search_dir) else None
    path = local or search_dir / slug / "competition.toml"
    if path.exists() and not force:
        raise KagglekitError(f"{path} exists (and does not define {slug}); fix it, or pass --force to replace it")
    return path


def _inside(path: Path, folder: Path) -> bool:
    return Path(path).resolve().is_relative_to(Path(folder).resolve())


def write_definition(text: str, path: Path) -> Path:
    """Write TEXT to PATH atomically: a crash leaves the old file or none, never half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide it from the project's other users
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
