"""Values read from TOML or JSON checked against the types a dataclass declares for its fields.

The training settings (core/config.py) and the run folder's records
(runs/records.py) are dataclasses; a value read for one of their fields is
accepted only when it has the field's type, so that a wrong-typed value is
refused by name where it is read, not deep inside TensorFlow or pandas.
"""

from __future__ import annotations

import types
import typing

_NAMES = {int: "a whole number", float: "a number", str: "a string", bool: "true or false",
          dict: "an object", list: "a list"}


def field_types(cls) -> dict[str, tuple[type, ...]]:
    """Field name -> the Python types its value may have (NoneType included for optional fields)."""
    found = {}
    for name, hint in typing.get_type_hints(cls).items():
        union = typing.get_origin(hint) in (typing.Union, types.UnionType)
        allowed = typing.get_args(hint) if union else (hint,)
        found[name] = tuple(typing.get_origin(a) or a for a in allowed)
    return found


def checked_value(value, allowed: tuple[type, ...]) -> tuple[bool, object]:
    """(whether VALUE fits ALLOWED, the value to keep): an integer is accepted for a number, true/false never
    for an integer, and a list for a tuple."""
    if isinstance(value, bool):
        return bool in allowed, value
    if float in allowed and isinstance(value, int):
        return True, float(value)
    if tuple in allowed and isinstance(value, list):
        return True, tuple(value)
    return isinstance(value, allowed), value


def type_name(allowed: tuple[type, ...]) -> str:
    """What ALLOWED is called in an error message, e.g. 'a whole number' or 'a string'."""
    return " or ".join(_NAMES.get(t, t.__name__) for t in allowed if t is not type(None))
