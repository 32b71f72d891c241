"""Kaggle references, OWNER/SLUG of a kernel or a dataset, read and checked as the kaggle client checks them.

The rules are the client's (kaggle 2.2, kaggle/api/kaggle_api_extended.py):
a kernel's slug has at least 5 characters (validate_kernel_string), a
dataset's 6 to 50 (dataset_create_new), and a slug is what python-slugify
makes of it (the client slugifies a kernel's title and warns when that is
not the slug): lowercase letters, digits and single inner hyphens. The
client sets no longest kernel slug; kagglekit keeps its kernel names to 50,
the length its fold kernels' names are cut to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kagglekit.core.errors import KagglekitError

SLUG_LENGTHS = {"kernel": (5, 50), "dataset": (6, 50)}  # shortest, longest
_SLUG_CHARACTERS = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")  # what slugify leaves unchanged (checked below)


@dataclass(frozen=True)
class Ref:
    """OWNER/SLUG of a kernel or a dataset."""

    owner: str
    slug: str

    def __str__(self) -> str:
        return f"{self.owner}/{self.slug}"


def is_slug(slug: str, kind: str) -> bool:
    """Whether SLUG can be the slug of a KIND ("kernel" or "dataset") on Kaggle."""
    low, high = SLUG_LENGTHS[kind]
    return low <= len(slug) <= high and bool(_SLUG_CHARACTERS.match(slug)) and _slugify(slug) == slug


def _rule(kind: str) -> str:
    low, high = SLUG_LENGTHS[kind]
    return f"{low} to {high} lowercase letters, digits and single hyphens"


def check_slug(slug: str, kind: str, what: str, example: str) -> None:
    """Refuse SLUG as a KIND's slug, naming WHAT was given (e.g. "kernel name 'x'") and an EXAMPLE."""
    if not is_slug(slug, kind):
        raise KagglekitError(f"{what} must be {_rule(kind)}, e.g. {example}")


def parse_ref(text: str, kind: str | None, what: str, example: str, form: str = "OWNER/SLUG") -> Ref:
    """OWNER/SLUG of a KIND ("kernel" or "dataset"), as the client would accept it; for KIND None (either)
    only the form is checked. WHAT names the option in an error, FORM how its help writes it, EXAMPLE a good one."""
    owner, _, slug = str(text).partition("/")
    if not owner or not slug or "/" in slug:
        raise KagglekitError(f"{what} '{text}' must be {form}, e.g. {example}")
    if kind and not is_slug(slug, kind):
        raise KagglekitError(f"{what} '{text}' must be {form} with a slug of {_rule(kind)}, e.g. {example}")
    return Ref(owner, slug)


def _slugify(text: str) -> str:
    try:
        from slugify import slugify  # the client's own rule, where the client is installed
    except ImportError:  # inside a kernel without it: the pattern above is the same rule
        return text
    return slugify(text)
