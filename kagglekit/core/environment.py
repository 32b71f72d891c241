"""Environment variables changed for the length of a block, and put back as they were afterwards."""

from __future__ import annotations

import contextlib
import os
from typing import Iterator


@contextlib.contextmanager
def changed_environment(values: dict[str, str | None]) -> Iterator[None]:
    """Set each of VALUES in os.environ (None: unset it) while the block runs; then restore every one of them."""
    saved = {name: os.environ.get(name) for name in values}
    try:
        _apply(values)
        yield
    finally:
        _apply(saved)


def _apply(values: dict[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
