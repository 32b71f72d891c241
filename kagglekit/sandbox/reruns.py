"""Code competitions in the sandbox: CreateCodeSubmission, and the rerun of the submitted kernel version.

Kaggle scores a code competition's submission by running the kernel version
again on the hidden test set, with the internet off and a time limit, and
scoring the file it writes. The sandbox does the same with its session runner
(kagglekit.sandbox.sessions): the version's script or notebook runs in a box of its own
under ``<sessions>/reruns/<ref>/`` with
  input/<competition>/   the public files, the hidden test set and sample
                         submission in place of the public ones (bundles.Bundle.rerun_files)
  input/<source>/        the kernel and dataset sources the version was pushed with
  working/               where the script must write the submission file
and KAGGLE_IS_COMPETITION_RERUN=1, no network, and the competition's
``time_limit`` (the competition switch ``rerun_time_limit`` overrides it, to
rehearse a timeout in seconds). The submission stays pending until the rerun
ends, then is scored against the hidden solution or fails with one of
Kaggle's four reasons (RERUN_ERRORS). The rerun's log stays in its folder.
"""

from __future__ import annotations

import logging
import shutil
from datetime import datetime, timedelta
from pathlib import Path

from kagglesdk.competitions.types.competition_api_service import (
    ApiCreateCodeSubmissionRequest, ApiCreateCodeSubmissionResponse,
)
from kagglesdk.competitions.types.submission_status import SubmissionStatus

from kagglekit.core.kaggle_paths import RERUN_ENV
from kagglekit.core.errors import KagglekitError
from kagglekit.sandbox.competitions import _bundle, _check_allowed
from kagglekit.sandbox.kernels import latest_version, refresh
from kagglekit.sandbox.routes import COMPETITIONS, ApiError, Call, route
from kagglekit.sandbox.sessions import DEFAULT_TIMEOUT, Ended, Run, mount, new_box, rerun_dir, session_dir, start
from kagglekit.sandbox.store import utc_now

log = logging.getLogger("kagglekit.sandbox")

CSV_NOT_FOUND = "Submission CSV Not Found"
TIMEOUT = "Notebook Timeout"
EXCEPTION = "Notebook Threw Exception"
SCORING = "Submission Scoring Error"
RERUN_ERRORS = (CSV_NOT_FOUND, TIMEOUT, EXCEPTION, SCORING)
LOST = "the sandbox stopped during the rerun; submit the kernel version again"
NOT_YET = datetime(9999, 12, 31).isoformat()  # scored_at of a submission whose rerun is still running


@route(COMPETITIONS, "CreateCodeSubmission")
def create_code_submission(call: Call):
    """Take a kernel version as a code competition's submission and start its rerun on the hidden test set."""
    req = ApiCreateCodeSubmissionRequest.from_dict(call.body)
    bundle = _bundle(call, req.competition_name)
    if not bundle.comp.is_code_competition:
        raise ApiError(400, f"Competition {bundle.slug} is not a code competition; submit a file to it instead")
    ref, version = latest_version(call, req.kernel_owner, req.kernel_slug,
                                   str(req.kernel_version) if req.kernel_version else None)
    version = refresh(call.sandbox, ref, version)
    _check_version(bundle, ref, version)
    _check_allowed(call, bundle)
    file_name = req.file_name or "submission.csv"
    with call.sandbox.store.change() as data:
        number = data["next_ref"]
        data["next_ref"] += 1
    session = _prepare(call.sandbox, bundle, ref, version, number)  # a failure here records no submission
    with call.sandbox.store.change() as data:
        data["submissions"].append({
            "ref": number, "competition": bundle.slug, "user": call.user, "file_name": file_name,
            "description": req.submission_description or "", "date": utc_now().isoformat(), "total_bytes": 0,
            "status": SubmissionStatus.PENDING.name, "public_score": None, "error": None, "scored_at": NOT_YET,
            "kernel": ref, "kernel_version": version["number"],
        })
    _start(call.sandbox, bundle, number, file_name, session, version)
    answer = ApiCreateCodeSubmissionResponse()
    answer.ref = number
    answer.message = f"Successfully submitted {ref} version {version['number']} to {bundle.comp.title}"
    return answer


def _check_version(bundle, ref: str, version: dict) -> None:
    """Refuse a version Kaggle would not take: unfinished or failed, with the internet on, or without the data."""
    said = f"Kernel {ref} version {version['number']}"
    if version["status"] != "COMPLETE":
        raise ApiError(400, f"{said} has not run successfully (status {version['status'].lower()}); "
                            "submit a version whose run completed")
    if version["internet"]:
        raise ApiError(400, f"{said} has internet access enabled; code competitions need it disabled")
    if bundle.slug not in version["competitions"]:
        raise ApiError(400, f"{said} does not have the data of {bundle.slug} attached; add it to competition_sources")


# -- the rerun -------------------------------------------------------------------------

def time_limit(sandbox, bundle) -> float:
    """Seconds the rerun may take: the rehearsal switch, else the competition's time_limit, else a session's."""
    return (sandbox.store.settings(bundle.slug)["rerun_time_limit"] or bundle.comp.time_limit_seconds
            or DEFAULT_TIMEOUT)


def _prepare(sandbox, bundle, ref: str, version: dict, number: int) -> Path:
    """The rerun's box: the competition with its hidden test set in place of the public one, the version's
    other sources, and the version's source."""
    session = new_box(rerun_dir(sandbox, number))  # a box left by a sandbox that lost its state goes
    files, _ = bundle.rerun_files()
    mount(sandbox, session, {bundle.slug: files}, version)
    source = version.get("source", "script.py")
    shutil.copyfile(session_dir(sandbox, ref, version["number"]) / source, session / source)
    return session


def _start(sandbox, bundle, number: int, file_name: str, session: Path, version: dict) -> None:
    limit = time_limit(sandbox, bundle)
    # Not under the user's name: a rerun does not take one of their sessions.
    run = Run(key=f"rerun/{number}", box=session, source=version.get("source", "script.py"), internet=False,
              timeout=limit, env={RERUN_ENV: "1"})
    start(sandbox, run, lambda ended: _record(sandbox, bundle, number, file_name, session, limit, ended))


def _record(sandbox, bundle, number: int, file_name: str, session: Path, limit: float, ended: Ended) -> None:
    score, error, detail = _outcome(bundle, ended.code, limit, session, file_name)
    log.info("rerun of submission %s: %s%s", number, error or f"scored {score}", f" ({detail})" if detail else "")
    with sandbox.store.change() as data:
        for sub in data["submissions"]:
            if sub["ref"] == number:
                sub.update(status=(SubmissionStatus.ERROR if error else SubmissionStatus.COMPLETE).name,
                           public_score=score, error=error, rerun_detail=detail,
                           scored_at=(utc_now() + timedelta(seconds=sandbox.scoring_delay)).isoformat())


def _outcome(bundle, code: int | None, limit: float, session: Path, file_name: str):
    """(score, Kaggle's error, what the sandbox saw) of a rerun that ended with exit CODE (None: stopped at LIMIT)."""
    if code is None:
        return None, TIMEOUT, f"still running after {limit:g} s"
    if code != 0:
        return None, EXCEPTION, f"exit code {code}; see {session / 'log.txt'}"
    written = session / "working" / file_name
    if not written.is_file():
        return None, CSV_NOT_FOUND, f"no {file_name} in the rerun's /kaggle/working"
    try:
        return f"{_score(bundle, written, session / 'input' / bundle.slug):.5f}", None, ""
    except KagglekitError as exc:
        return None, SCORING, str(exc)


def _score(bundle, written: Path, mounted: Path) -> float:
    """The file's score against the hidden solution, after the checks of its rows and columns."""
    from kagglekit.prediction.submission import check_submission, read_csv_text, read_sample, score_submission

    _, solution = bundle.rerun_files()
    if solution is None:
        raise KagglekitError(f"the sandbox has no solution file for {bundle.slug}")
    df = read_csv_text(written, "submission")
    check_submission(bundle.comp, df, read_sample(bundle.comp, mounted))  # the hidden sample the rerun saw
    return score_submission(bundle.comp, df, read_csv_text(solution, "solution"))


def recover(store) -> None:
    """Fail the reruns a stopped sandbox left pending: their sessions are gone."""
    with store.change() as data:
        for sub in data["submissions"]:
            if sub.get("kernel") and sub["status"] == SubmissionStatus.PENDING.name:
                sub.update(status=SubmissionStatus.ERROR.name, error=LOST, scored_at=utc_now().isoformat())
