"""The sandbox's persistent state: users, per-competition settings, uploads and submissions.

Everything lives in one folder: ``state.json`` (rewritten atomically after
every change, so a restart or a kill loses nothing) and ``uploads/`` with the
bytes of each uploaded submission file.

Newer state is kept as typed records: a dataclass per kind of record, owned by
the module that serves it (datasets, models, teams, kernel metadata), stored in
a section of state.json and read and written only through ``records`` and
``change_records``, so a field is named in one place.
"""

from __future__ import annotations

import json
import secrets
import threading
import types
import typing
from contextlib import contextmanager
from dataclasses import asdict, fields, is_dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, TypeVar

from kagglekit.core.atomic import write_json

DEFAULT_USER = "kaggler"

# Per-competition switches a test or a user can flip (see Sandbox.configure).
# rerun_time_limit (seconds) overrides a code competition's time limit, e.g. to rehearse a timeout quickly.
COMPETITION_DEFAULTS = {"rules_accepted": True, "closed": False, "daily_limit": None, "rerun_time_limit": None}
_NEEDS = {"daily_limit": "a whole number 0 or more, or null", "rerun_time_limit": "a number of seconds above 0, or null"}


T = TypeVar("T")


def utc_now() -> datetime:
    """Now in UTC, without tzinfo (the form kagglesdk serializes)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Store:
    """State that survives a restart; every public method is thread-safe."""

    def __init__(self, state_dir: Path):
        self.dir = Path(state_dir)
        self.uploads_dir = self.dir / "uploads"
        self.uploads_dir.mkdir(parents=True, exist_ok=True)
        self._path = self.dir / "state.json"
        self._lock = threading.RLock()
        if self._path.is_file():
            self.data = json.loads(self._path.read_text())
        else:
            self.data = {"users": {DEFAULT_USER: secrets.token_hex(16)}, "competitions": {},
                         "uploads": {}, "submissions": [], "next_ref": 1}
            self._save()

    @contextmanager
    def change(self):
        """Hold the lock while the caller edits self.data, then save it."""
        with self._lock:
            yield self.data
            self._save()

    def _save(self) -> None:
        write_json(self._path, self.data, permissions=0o600)  # it holds the users' keys

    def user_for(self, username: str | None, key: str | None) -> str | None:
        """The user whose key is KEY (and whose name is USERNAME when given), else None."""
        with self._lock:
            for name, known in self.data["users"].items():
                if key and secrets.compare_digest(known, key) and username in (None, name):
                    return name
        return None

    def credentials(self) -> tuple[str, str]:
        """The first user's name and key, for the environment the sandbox prints."""
        with self._lock:
            name = next(iter(self.data["users"]))
            return name, self.data["users"][name]

    def settings(self, slug: str) -> dict:
        """The competition's switches, defaults filled in."""
        with self._lock:
            return {**COMPETITION_DEFAULTS, **self.data["competitions"].get(slug, {})}

    def configure(self, slug: str, **switches) -> dict:
        """Change a competition's switches (rules_accepted, closed, daily_limit, rerun_time_limit); unknown names are an error."""
        unknown = set(switches) - set(COMPETITION_DEFAULTS)
        if unknown:
            raise ValueError(f"unknown competition setting {sorted(unknown)[0]}; valid: {', '.join(COMPETITION_DEFAULTS)}")
        for name, value in switches.items():
            number = isinstance(value, (float, int) if name == "rerun_time_limit" else int) and not isinstance(value, bool)
            ok = isinstance(value, bool) if name not in _NEEDS else (
                value is None or (number and (value >= 0 if name == "daily_limit" else value > 0)))
            if not ok:
                raise ValueError(f"competition setting {name} must be {_NEEDS.get(name, 'true or false')}, not {value!r}")
        with self.change() as data:
            data["competitions"].setdefault(slug, {}).update(switches)
        return self.settings(slug)

    def add_user(self, name: str) -> str:
        """Add user NAME (or keep the one there) and return their key."""
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"a user name is letters, digits, '-' and '_', not {name!r}")
        with self.change() as data:
            return data["users"].setdefault(name, secrets.token_hex(16))

    # -- typed records ------------------------------------------------------
    def records(self, section: str, cls: type[T]) -> dict[str, T]:
        """The records of SECTION (key -> CLS), read from state.json; missing fields take their defaults."""
        with self._lock:
            return {key: revive(cls, value) for key, value in self.data.get(section, {}).items()}

    @contextmanager
    def change_records(self, section: str, cls: type[T]) -> Iterator[dict[str, T]]:
        """Hold the lock while the caller edits SECTION's records (add, change, delete), then save them."""
        with self._lock:
            found = self.records(section, cls)
            yield found
            self.data[section] = {key: asdict(record) for key, record in found.items()}
            self._save()

    def upload_path(self, token: str) -> Path:
        """Where the bytes of upload TOKEN are kept."""
        return self.uploads_dir / f"{token}.csv"

    def submissions(self, slug: str | None = None, user: str | None = None) -> list[dict]:
        """Submissions, newest first, optionally of one competition and one user."""
        with self._lock:
            subs = [dict(s) for s in self.data["submissions"]
                    if slug in (None, s["competition"]) and user in (None, s["user"])]
        return sorted(subs, key=lambda s: s["ref"], reverse=True)


def revive(cls: type[T], data: dict) -> T:
    """A CLS dataclass from its asdict() form: nested dataclasses and lists or dicts of them rebuilt, unknown keys
    dropped (state written by an older sandbox loads, missing fields take their defaults)."""
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    return cls(**{key: _revive_value(hints[key], value) for key, value in data.items() if key in known})


def _revive_value(hint, value):
    if value is None:
        return None
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    origin = typing.get_origin(hint)
    if is_dataclass(hint):
        return revive(hint, value)
    if origin is list:
        return [_revive_value(args[0], v) for v in value]
    if origin is dict:
        return {k: _revive_value(args[1], v) for k, v in value.items()}
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return _revive_value(args[0], value)
    return value
