"""Submit a file to a competition: checked first, sent once, followed to its score, noted in its run folder.

A file that fails validation, or that the day's allowance has no room for, is
never sent; the sending goes through kagglekit.kaggle.in_flight, so a lost
answer is adopted instead of sent twice.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

from kagglekit.competition.definition import Competition
from kagglekit.core.errors import KagglekitError
from kagglekit.kaggle.competition_call import competition_call
from kagglekit.kaggle.in_flight import InFlight, now_utc, send_once
from kagglekit.kaggle.remote import RetryPolicy, UploadFailed, connect

log = logging.getLogger("kagglekit")


@dataclass(frozen=True)
class SubmitResult:
    """A submission Kaggle accepted."""

    ref: int
    file: Path
    status: str  # pending, complete
    public_score: str | None = None
    message: str = ""
    left_today: int | None = None  # submissions Kaggle still allows today after this one, when it can tell


def default_submission_file(comp: Competition) -> Path:
    """The newest submission.csv that 'kagglekit predict' wrote into a run of the competition."""
    from kagglekit.runs.folder import RUNS_ROOT, latest_submission_file

    found = latest_submission_file(comp.slug)
    if found is None:
        raise KagglekitError(f"no submission file given and none under {RUNS_ROOT}/{comp.slug}/; "
                             "pass FILE or run 'kagglekit predict' first")
    return found


def check_takes_files(comp: Competition) -> None:
    """Refuse a file submission to a code competition, before anything is read or sent: say how to submit there."""
    if comp.is_code_competition:
        raise KagglekitError(f"{comp.slug} is a code competition: Kaggle scores its own rerun of a kernel on the "
                             "hidden test set, not an uploaded file; submit a kernel version with 'kagglekit submit "
                             f"-c {comp.slug} --kernel OWNER/KERNEL -m MESSAGE' (an inference kernel comes from "
                             "'kagglekit kernel build --predict-from SOURCE')")


def submit_file(comp: Competition, file: Path, message: str, data_dir: Path, wait: bool = False,
                retry: RetryPolicy | None = None, timeout: float = 3600.0) -> SubmitResult:
    """Validate FILE, send it (start upload, upload, create submission) and, with WAIT, poll for its score."""
    from kagglekit.prediction.submission import validate_file

    check_takes_files(comp)
    began = now_utc()  # a copy of this submission that another process sends from now on is adopted
    policy = retry or RetryPolicy.from_env()
    file = Path(file)
    if not message.strip():
        raise KagglekitError("the submission message is empty; describe the submission with -m '...'")
    validate_file(comp, file, data_dir)  # an invalid file is never sent
    api = connect()
    check_submissions_left(api, comp, policy)  # a submission the day has no room for is never sent
    flight = InFlight(comp.slug, hashlib.sha256(file.read_bytes()).hexdigest(), message, file.name)

    def send():
        answer = api.competition_submit(str(file), message, comp.slug, quiet=True)
        if answer.message == api.COMPETITION_SUBMIT_UPLOAD_FAILED_MESSAGE:
            raise UploadFailed(answer.message)
        return answer

    answer = send_once(api, comp, flight, send, policy, began=began)
    result = SubmitResult(answer.ref, file, "pending", message=answer.message)
    _remember(result, message)
    if wait:
        result = wait_for_score(api, comp, result, policy, timeout)
        _remember(result, message)
    left = submission_limits(api, comp, policy)
    return replace(result, left_today=left.num_allowed_now) if left else result


def submission_limits(api, comp: Competition, policy: RetryPolicy):
    """Kaggle's count of your team's submissions (num_today, num_allowed_now, limited_by_total), or None when the
    client cannot tell: a client without the call, a server that does not answer it, a user not on a team yet."""
    ask = getattr(api, "competition_get_submission_limits", None)  # kaggle 2.2 and later
    if ask is None:
        return None
    try:
        limits = competition_call(lambda: ask(comp.slug), comp, "ask how many submissions are left today", policy)
    except KagglekitError as exc:
        log.warning("%s; going on without knowing how many submissions are left today", exc)
        return None
    if limits is None or not (limits.num_today or limits.num_total or limits.num_allowed_now):
        return None  # all zero: not on a team yet, so the counts say nothing
    return limits


def check_submissions_left(api, comp: Competition, policy: RetryPolicy) -> int | None:
    """How many submissions Kaggle still allows today (None: it cannot tell); a clear refusal when none are."""
    limits = submission_limits(api, comp, policy)
    if limits is None or limits.num_allowed_now > 0:
        return limits.num_allowed_now if limits else None
    if limits.limited_by_total:
        raise KagglekitError(f"no submissions left for {comp.slug}: your team has made {limits.num_total}, the "
                             "competition's total allowance; nothing was sent")
    raise KagglekitError(f"no submissions left today for {comp.slug}: your team has made {limits.num_today} since "
                         "midnight UTC, the daily allowance; nothing was sent, submit again after midnight UTC")


# Submissions whose sending started but whose answer never came, so that a rerun adopts them instead of
# sending a second copy (each copy costs one of the day's submissions).


def _remember(result: SubmitResult, message: str) -> None:
    """Note the submission in the run folder it came from, so `kagglekit runs` shows it and its score."""
    from kagglekit.runs.folder import RunFolder, record_submission, run_dir_of

    run = run_dir_of(result.file)
    if run is not None:
        score = float(result.public_score) if result.public_score not in (None, "") else None
        record_submission(RunFolder(run), result.file, message, ref=str(result.ref), status=result.status,
                          public_score=score)


def wait_for_score(api, comp: Competition, submitted: SubmitResult, policy: RetryPolicy,
                   timeout: float = 3600.0, first_pause: float = 0.5) -> SubmitResult:
    """Poll the submission until Kaggle has scored it; its error message when scoring failed."""
    from kagglesdk.competitions.types.submission_status import SubmissionStatus

    ref, deadline, pause = submitted.ref, time.monotonic() + timeout, first_pause
    while True:
        sub = competition_call(lambda: api.get_submission(ref), comp, "check the submission", policy)
        if sub.status == SubmissionStatus.COMPLETE:
            return SubmitResult(ref, submitted.file, "complete", sub.public_score, submitted.message)
        if sub.status == SubmissionStatus.ERROR:
            raise KagglekitError(f"submission {ref} to {comp.slug} failed to score: "
                                 f"{(sub.error_description or '').strip() or 'Kaggle gave no reason'}")
        if time.monotonic() + pause > deadline:
            raise KagglekitError(f"submission {ref} to {comp.slug} was not scored within {timeout:.0f} s; "
                                 f"see it later with 'kaggle competitions submissions -c {comp.slug}'")
        time.sleep(pause)
        pause = min(pause * 1.5, 15.0)
