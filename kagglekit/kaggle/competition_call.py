"""A call about one competition, through remote.call: what a 403, a 404 or a cut-off download means for it.

Only calls whose subject is the competition (its files, its listing, its
submissions) say "Kaggle has no competition" on a 404; a call about something
else in it (a kernel version sent to a code competition) passes its own 404
hint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, TypeVar

from kagglekit.competition.definition import Competition
from kagglekit.kaggle.remote import Hints, RetryPolicy, call

T = TypeVar("T")


def competition_call(fn: Callable[[], T], comp: Competition, what: str, policy: RetryPolicy,
                     staging: Path | None = None, not_found: Callable[[str], str] | None = None) -> T:
    """FN() through remote.call, with what a failure means for COMP: its rules (403), its slug (404, unless
    NOT_FOUND words the 404 for the call's own subject), the bytes of a cut-off download kept in STAGING."""
    where = f" in {comp.source}" if comp.source else ""

    def cut_off(tries: int, why: str) -> str | None:
        if staging is None or not staging.is_file():
            return None
        return (f"the download of {comp.slug} was cut off {tries} times ({why}); the {staging.stat().st_size} bytes "
                "received are kept, run the same command again to resume")

    hints = Hints(by_status={
        403: lambda why: (f"Kaggle refused to {what} for {comp.slug} (403: {why}); accept the competition's rules at "
                          f"{comp.rules_url} (the API cannot accept them for you) and run again"),
        404: not_found or (lambda why: f"Kaggle has no competition '{comp.slug}' (404: {why}); check the slug{where}"),
    }, cut_off=cut_off)
    return call(fn, f"{what} for {comp.slug}", policy, hints)
