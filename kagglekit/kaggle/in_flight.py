"""Submissions on their way: sent once, even when an answer is lost or two processes send the same one.

A record in the cache notes each submission whose sending started and whose
answer has not come yet; a rerun searches Kaggle's list for it before sending
again, and adopts it when found. Two processes sending the same submission at
once take turns through a lock (core/locks.py); the second adopts the first's
instead of sending a copy (each copy costs one of the day's submissions). The
record itself is read, changed and written under a lock of its own.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

from kagglekit.competition.definition import Competition
from kagglekit.core.atomic import write_json
from kagglekit.core.errors import KagglekitError
from kagglekit.core.locks import hold
from kagglekit.kaggle.competition_call import competition_call
from kagglekit.kaggle.remote import RetryPolicy, is_timeout

log = logging.getLogger("kagglekit")

IN_FLIGHT_FILE = "submissions-in-flight.json"
CLOCK_SKEW = 300  # seconds: Kaggle's clock and ours may differ this much


@dataclass(frozen=True)
class InFlight:
    """What identifies one submission being sent: the competition, what is sent, its message and file name."""

    competition: str
    content: str  # sha256 of a submission file, or owner/kernel@version of a code submission
    message: str
    file_name: str

    def matches(self, sub) -> bool:
        """True when Kaggle's submission SUB is this one."""
        return (sub.description or "") == self.message and (sub.file_name or "") == self.file_name


SENT_KEPT = timedelta(days=1)  # how long a sent submission stays on record for a concurrent sender to adopt


def now_utc() -> datetime:
    """Now in UTC, naive, as Kaggle's submission dates are."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _in_flight_path() -> Path:
    from kagglekit.data.catalog import cache_dir

    return cache_dir() / IN_FLIGHT_FILE


def _records_lock() -> Path:
    return _in_flight_path().with_name(f".{IN_FLIGHT_FILE}.lock")


def _flight_lock(flight: InFlight) -> Path:
    """The lock two processes sending FLIGHT take turns through (one per submission, so others are not held up)."""
    key = hashlib.sha256(json.dumps(vars(flight), sort_keys=True).encode()).hexdigest()[:24]
    return _in_flight_path().with_name(".submissions-sending") / f"{key}.lock"


def _in_flight_records() -> list[dict]:
    try:
        data = json.loads(_in_flight_path().read_text())
    except (OSError, ValueError):
        return []
    return [r for r in data if isinstance(r, dict)] if isinstance(data, list) else []


def _is(record: dict, flight: InFlight) -> bool:
    return {k: record.get(k) for k in vars(flight)} == vars(flight)


def _record_of(flight: InFlight) -> dict:
    """FLIGHT's record: {"started": ...} while it is on its way, {"sent": ref, "finished": ...} once Kaggle took it."""
    with hold(_records_lock(), "the record of submissions in flight", wait=True):
        return next((r for r in _in_flight_records() if _is(r, flight)), {})


def _finished(record: dict) -> datetime:
    """When a sent record's submission was taken by Kaggle (long ago, when the record cannot tell)."""
    try:
        return datetime.fromisoformat(str(record.get("finished")))
    except ValueError:
        return datetime.min


def _set_record(flight: InFlight, **fields) -> None:
    """Replace FLIGHT's record by FIELDS (none: forget it), under the lock: a read-modify-write of the whole file."""
    with hold(_records_lock(), "the record of submissions in flight", wait=True):
        records = [r for r in _in_flight_records()
                   if not _is(r, flight) and ("sent" not in r or _finished(r) >= now_utc() - SENT_KEPT)]
        if fields:
            records.append({**vars(flight), **fields})
        write_json(_in_flight_path(), records)


def _landed(api, comp: Competition, flight: InFlight, since: datetime | None, earlier: set) -> object | None:
    """Kaggle's submission that is FLIGHT, made after SINCE (or not among EARLIER refs), if there is one."""
    for sub in _submissions(api, comp):
        if not flight.matches(sub) or sub.ref in earlier:
            continue
        if since is None or sub.date is None or sub.date >= since - timedelta(seconds=CLOCK_SKEW):
            return sub
    return None


def send_once(api, comp: Competition, flight: InFlight, send: Callable[[], object], policy: RetryPolicy,
              not_found: Callable[[str], str] | None = None, began: datetime | None = None):
    """SEND() the submission FLIGHT unless Kaggle already has it; retried without ever sending it twice.

    An answer can be lost after Kaggle took the submission. Before each retry, and
    before sending at all when an earlier run never heard back, Kaggle's list of
    submissions is searched for this one; found, it is adopted. A process that
    finds another one sending FLIGHT waits for it and adopts what it sent: one that Kaggle took after BEGAN
    (when the command started; default now). NOT_FOUND words a 404 of the sending call (see competition_call).
    """
    began = began or now_utc()
    with hold(_flight_lock(flight), f"the submission of {flight.file_name}", wait=True):
        record = _record_of(flight)
        if "sent" in record and _finished(record) >= began:
            log.warning("another process sent the same submission meanwhile (ref %s): adopting it, not sending it "
                        "again", record["sent"])
            return SimpleNamespace(ref=record["sent"], message="submitted by another process at the same time")
        since = datetime.fromisoformat(record["started"]) if "started" in record else None
        return _send(api, comp, flight, send, policy, since, not_found)


def _send(api, comp: Competition, flight: InFlight, send: Callable[[], object], policy: RetryPolicy,
          since: datetime | None, not_found: Callable[[str], str] | None):
    """send_once's work, under FLIGHT's lock; SINCE: when an earlier run started sending it without hearing back."""
    earlier = {sub.ref for sub in competition_call(lambda: _submissions(api, comp), comp, "list your submissions",
                                                   policy)}
    if since is not None:
        landed = competition_call(lambda: _landed(api, comp, flight, since, set()), comp, "list your submissions",
                                  policy)
        if landed is not None:
            log.warning("the submission an earlier run sent reached Kaggle (ref %s): adopting it, not sending it again",
                        landed.ref)
            _set_record(flight, sent=landed.ref, finished=now_utc().isoformat())
            return SimpleNamespace(ref=landed.ref, message="submitted by an earlier run (its answer was lost)")
    tries, unanswered = 0, False

    def attempt():
        nonlocal tries, unanswered
        tries += 1
        if tries > 1:
            landed = _landed(api, comp, flight, None, earlier)
            if landed is None and unanswered:  # the server may still be at work on the try it never answered
                time.sleep(policy.timeout)
                landed = _landed(api, comp, flight, None, earlier)
            if landed is not None:
                log.warning("the submission had reached Kaggle before the answer was lost: not sending it again")
                return SimpleNamespace(ref=landed.ref, message="submitted (the first answer was lost)")
        try:
            return send()
        except Exception as exc:
            unanswered = _creation_unanswered(exc)
            raise

    _set_record(flight, started=(since or now_utc()).isoformat())
    try:
        answer = competition_call(attempt, comp, "submit", policy, not_found=not_found)
    except KagglekitError as exc:
        if not getattr(exc, "unanswered", False):  # a clear refusal: nothing is on its way
            _set_record(flight)
            raise
        raise KagglekitError(f"{exc}; the submission may already have reached Kaggle: run the same command again, "
                             "it looks for it before sending a second copy") from None
    if not answer.ref:
        _set_record(flight)
        # Old clients said "Successfully submitted" whatever happened: only a submission ref proves it.
        raise KagglekitError(f"Kaggle did not accept the submission to {comp.slug}: {answer.message or 'no reason given'}")
    _set_record(flight, sent=answer.ref, finished=now_utc().isoformat())
    return answer


def _creation_unanswered(exc: BaseException) -> bool:
    """True when EXC is a timeout of the call that creates the submission: Kaggle may create it after all."""
    url = str(getattr(getattr(exc, "request", None), "url", "") or "")
    return is_timeout(exc) and url.rsplit("/", 1)[-1] in ("CreateSubmission", "CreateCodeSubmission")


def _submissions(api, comp: Competition) -> list:
    """Your latest submissions to the competition (the client's first page, newest first)."""
    return [sub for sub in api.competition_submissions(comp.slug) or [] if sub]
