"""Durations as people read them: 45s, 3m05s, 2h07m (the one way kagglekit writes a time span)."""

from __future__ import annotations


def format_duration(seconds: float | None) -> str:
    """SECONDS as 45s, 3m05s or 2h07m (whole seconds, rounded down; negative counts as 0; None as '-')."""
    if seconds is None:
        return "-"
    whole = int(max(seconds, 0))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
