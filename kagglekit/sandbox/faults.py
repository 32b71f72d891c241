"""Faults a test can ask the sandbox for: failing calls, lost answers, dropped downloads, slow answers,
calls that are never answered and downloads that stall.

Set with ``Sandbox.faults.set(...)`` in-process, or by posting the same JSON
to ``/sandbox/faults`` (see the README, "Control endpoints"). Counters run down as faults are
served; ``clear()`` ends them all.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields


@dataclass
class FaultPlan:
    """What to break next; zero everywhere means no faults."""

    fail: int = 0  # answer the next N API calls with `status`
    status: int = 500
    only: str = ""  # restrict `fail`, `lose`, `slow` and `hang` to one API method, e.g. "DownloadDataFiles"
    lose: int = 0  # carry out the next N API calls, then answer them with `status` (the answer is lost)
    drop: int = 0  # cut the connection of the next N file downloads (or live log streams) ...
    drop_after: int = 65536  # ... after this many bytes of the body
    slow: int = 0  # delay the next N API calls ...
    delay: float = 1.0  # ... by this many seconds
    hang: int = 0  # accept the next N API calls (restricted by `only`) and never answer them
    stall: int = 0  # the next N downloads (competition files, kernel outputs) send ...
    stall_after: int = 65536  # ... this many bytes of the body, then nothing more, the connection kept open


class Faults:
    """A thread-safe FaultPlan that the server consumes call by call."""

    def __init__(self):
        self._lock = threading.Lock()
        self.plan = FaultPlan()

    def set(self, **changes) -> FaultPlan:
        """Replace the plan's given fields; an unknown field is a ValueError."""
        valid = {f.name for f in fields(FaultPlan)}
        unknown = set(changes) - valid
        if unknown:
            raise ValueError(f"unknown fault '{sorted(unknown)[0]}'; valid: {', '.join(sorted(valid))}")
        for name, value in changes.items():
            kind = type(getattr(FaultPlan, name))
            ok = isinstance(value, kind) or (kind is float and isinstance(value, int))
            if not ok or isinstance(value, bool) or (kind is not str and value < 0):
                raise ValueError(f"fault '{name}' must be a {'non-negative ' if kind is not str else ''}{kind.__name__}, "
                                 f"not {value!r}")
        with self._lock:
            for name, value in changes.items():
                setattr(self.plan, name, value)
            return FaultPlan(**vars(self.plan))

    def clear(self) -> None:
        """No more faults."""
        with self._lock:
            self.plan = FaultPlan()

    def take_failure(self, method: str) -> int | None:
        """The status to fail METHOD with, or None to answer it normally."""
        return self._take("fail", method)

    def take_hang(self, method: str) -> bool:
        """True when METHOD is to be accepted and never answered."""
        with self._lock:
            if self.plan.hang > 0 and self.plan.only in ("", method):
                self.plan.hang -= 1
                return True
        return False

    def take_stall(self) -> int | None:
        """After how many body bytes this download stops sending (connection kept open), or None."""
        with self._lock:
            if self.plan.stall > 0:
                self.plan.stall -= 1
                return self.plan.stall_after
        return None

    def take_lost(self, method: str) -> int | None:
        """The status to answer METHOD with after carrying it out, or None to answer it normally."""
        return self._take("lose", method)

    def _take(self, counter: str, method: str) -> int | None:
        with self._lock:
            left = getattr(self.plan, counter)
            if left > 0 and self.plan.only in ("", method):
                setattr(self.plan, counter, left - 1)
                return self.plan.status
        return None

    def take_delay(self, method: str = "") -> float:
        """Seconds to wait before carrying out (and answering) this API call METHOD."""
        with self._lock:
            if self.plan.slow > 0 and self.plan.only in ("", method):
                self.plan.slow -= 1
                return self.plan.delay
        return 0.0

    def take_drop(self) -> int | None:
        """After how many body bytes to cut this download, or None to send it all."""
        with self._lock:
            if self.plan.drop > 0:
                self.plan.drop -= 1
                return self.plan.drop_after
        return None
