"""Kaggle I/O: fetch a competition's files and submit a file, through the official kaggle client.

Everything goes through ``KaggleApi`` (no HTTP of our own), so the same code
talks to Kaggle and to ``kagglekit sandbox``. What this module adds to the
client: one-line errors that say what to do, retries with backoff for server
failures and dropped connections, downloads that are idempotent and never
leave a partial file where the catalog would take it for complete, and a
refusal to send a submission that fails validation.

Credentials stay inside the client: nothing here reads, prints, logs or
writes them.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, TypeVar

from kagglekit.atomic import write_json
from kagglekit.competition import Competition
from kagglekit.errors import KagglekitError

log = logging.getLogger("kagglekit")
T = TypeVar("T")

# Written last by fetch: its presence says the data folder holds a complete download.
FETCH_MARKER = ".kagglekit-fetch.json"
# Downloads in progress live here, out of the catalog's sight, until they are complete.
STAGING = ".download"
DOWNLOAD_CHUNK = 64 * 1024


@dataclass(frozen=True)
class RetryPolicy:
    """How often to try a call that failed on the server's side or lost its connection."""

    attempts: int = 5
    delay: float = 1.0  # seconds before the second try, doubled before each next one

    @classmethod
    def from_env(cls) -> "RetryPolicy":
        """Defaults, or KAGGLEKIT_HTTP_ATTEMPTS and KAGGLEKIT_HTTP_BACKOFF (seconds)."""
        try:
            policy = cls(int(os.environ.get("KAGGLEKIT_HTTP_ATTEMPTS", cls.attempts)),
                         float(os.environ.get("KAGGLEKIT_HTTP_BACKOFF", cls.delay)))
        except ValueError:
            raise KagglekitError("KAGGLEKIT_HTTP_ATTEMPTS must be a whole number and KAGGLEKIT_HTTP_BACKOFF "
                                 "a number of seconds; fix or unset them") from None
        if policy.attempts < 1 or policy.delay < 0:
            raise KagglekitError("KAGGLEKIT_HTTP_ATTEMPTS must be at least 1 and KAGGLEKIT_HTTP_BACKOFF at least 0")
        return policy


@dataclass(frozen=True)
class FetchResult:
    """What fetch did."""

    slug: str
    data_dir: Path
    downloaded: bool  # False: the folder was already up to date
    size: int | None  # bytes of the competition's download
    resumed_from: int = 0  # bytes an interrupted earlier run had already received
    unpacked: tuple[str, ...] = ()  # nested archives extracted beside themselves


@dataclass(frozen=True)
class SubmitResult:
    """A submission Kaggle accepted."""

    ref: int
    file: Path
    status: str  # pending, complete
    public_score: str | None = None
    message: str = ""


class _UploadFailed(Exception):
    """The client reported a failed upload by return value; worth another try."""


# -- connecting --------------------------------------------------------------

def _no_credentials(config_dir: str) -> str:
    return (f"no Kaggle credentials found; download kaggle.json from https://www.kaggle.com/settings "
            f"('Create New Token') into {config_dir} (chmod 600), or set KAGGLE_USERNAME and KAGGLE_KEY")


def connect():
    """An authenticated KaggleApi, or a KagglekitError saying where credentials go."""
    output = io.StringIO()
    # The client prints a page of auth help on import and before exit(1); keep both off the user's screen.
    with contextlib.redirect_stdout(output):
        from kaggle.api.kaggle_api_extended import KaggleApi

        api = KaggleApi()
        # VERBOSE=1 makes the client dump request headers, Authorization included: never let it.
        api.args = [a for a in api.args if a not in ("--verbose", "-v")]
        try:
            api.authenticate()
        except SystemExit:
            raise KagglekitError(_no_credentials(KaggleApi.config_dir)) from None
    if "readable by other users" in output.getvalue():
        log.warning("%s is readable by other users; run 'chmod 600 %s'", api.config, api.config)
    return api


# -- errors and retries ------------------------------------------------------

def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _is_cut_off(exc: BaseException) -> bool:
    """True for a transfer that broke partway (as opposed to one that never connected)."""
    import requests
    from urllib3.exceptions import ProtocolError, ReadTimeoutError

    if isinstance(exc, ValueError) and str(exc).startswith("Downloaded file size"):
        return True
    return isinstance(exc, (requests.exceptions.ChunkedEncodingError, ProtocolError, ReadTimeoutError))


def _is_transient(exc: BaseException) -> bool:
    """Server failures, rate limits and lost connections: worth trying again."""
    import requests

    if isinstance(exc, requests.HTTPError):
        status = _status(exc)
        return status is not None and (status >= 500 or status == 429)
    return isinstance(exc, (requests.ConnectionError, requests.Timeout, _UploadFailed)) or _is_cut_off(exc)


def _reason(exc: BaseException) -> str:
    """The server's message (or the error's first words), short and on one line."""
    text = ""
    response = getattr(exc, "response", None)
    if response is not None:
        with contextlib.suppress(Exception):
            text = response.json().get("message", "")
    if not text and _is_cut_off(exc):
        return "connection broken partway"
    text = text or str(exc) or type(exc).__name__
    if "refused" in text.lower() and getattr(exc, "response", None) is None:
        return "connection refused"
    return " ".join(text.split())[:200]


def _explain(exc: BaseException, comp: Competition, what: str, tries: int, staging: Path | None = None) -> BaseException:
    """The KagglekitError a user reads for EXC; unknown exceptions (bugs) are returned unchanged."""
    import requests

    if isinstance(exc, KagglekitError):
        return exc
    status, reason = _status(exc), _reason(exc)
    if isinstance(exc, requests.HTTPError) and status:
        if status == 401:
            return KagglekitError("Kaggle rejected your credentials (401); check the username and key in kaggle.json "
                                  "(or KAGGLE_USERNAME/KAGGLE_KEY), or create a new token at https://www.kaggle.com/settings")
        if status == 403:
            return KagglekitError(f"Kaggle refused to {what} for {comp.slug} (403: {reason}); accept the competition's "
                                  f"rules at {comp.rules_url} (the API cannot accept them for you) and run again")
        if status == 404:
            return KagglekitError(f"Kaggle has no competition '{comp.slug}' (404: {reason}); check the slug"
                                  + (f" in {comp.source}" if comp.source else ""))
        if _is_transient(exc):
            return KagglekitError(f"Kaggle kept failing to {what} for {comp.slug} ({status}: {reason}) "
                                  f"after {tries} tries; try again later")
        return KagglekitError(f"Kaggle refused to {what} for {comp.slug} ({status}: {reason})")
    if staging is not None and staging.is_file() and _is_cut_off(exc):
        return KagglekitError(f"the download of {comp.slug} was cut off {tries} times ({reason}); the "
                              f"{staging.stat().st_size} bytes received are kept, run the same command again to resume")
    if isinstance(exc, _UploadFailed):
        return KagglekitError(f"the upload to {comp.slug} failed {tries} times; try again later")
    if _is_transient(exc):
        return KagglekitError(f"could not reach Kaggle to {what} after {tries} tries ({reason}); check the network "
                              "(or that 'kagglekit sandbox' is running and its environment is exported) and run again")
    if isinstance(exc, OSError):
        return KagglekitError(f"could not {what} for {comp.slug}: {exc.strerror or exc} ({exc.filename}); "
                              "check free disk space and folder permissions")
    return exc


def _call(fn: Callable[[], T], comp: Competition, what: str, policy: RetryPolicy, staging: Path | None = None) -> T:
    """FN(), tried again with exponential backoff while it fails transiently."""
    for attempt in range(1, policy.attempts + 1):
        try:
            return fn()
        except SystemExit as exc:  # some client methods print and exit() instead of raising
            raise KagglekitError(f"the kaggle client stopped while trying to {what} for {comp.slug} "
                                 f"(exit code {exc.code}); run again, or try the same with the kaggle CLI") from None
        except Exception as exc:
            if not _is_transient(exc) or attempt == policy.attempts:
                raise _explain(exc, comp, what, attempt, staging) from None
            pause = policy.delay * 2 ** (attempt - 1)
            log.warning("could not %s (%s); trying again in %.1f s (%d of %d)",
                        what, _reason(exc), pause, attempt + 1, policy.attempts)
            time.sleep(pause)
    raise AssertionError("unreachable")


# -- fetch -------------------------------------------------------------------

def fetch_competition(comp: Competition, data_dir: Path, force: bool = False, progress: bool = False,
                      retry: RetryPolicy | None = None) -> FetchResult:
    """Download the competition's files into DATA_DIR and unpack them; a no-op when already up to date.

    The download goes to DATA_DIR/.download/ and is unpacked only once
    complete; an interrupted one is resumed by the next call (with Range
    requests, by the client). FORCE downloads and unpacks again.
    """
    policy = retry or RetryPolicy.from_env()
    data_dir = Path(data_dir)
    staging = data_dir / STAGING / f"{comp.slug}.zip"
    if force:
        shutil.rmtree(data_dir / STAGING, ignore_errors=True)
    api = connect()
    outcome = _call(lambda: _download(api, comp, data_dir, staging, force, progress),
                    comp, "download the files", policy, staging)
    if outcome is None:
        return FetchResult(comp.slug, data_dir, downloaded=False, size=_read_marker(data_dir)["identity"]["size"])
    identity, resumed_from = outcome
    entries = _unpack(comp, data_dir, staging)
    _write_marker(data_dir, {"competition": comp.slug, "identity": identity, "entries": entries})
    shutil.rmtree(data_dir / STAGING, ignore_errors=True)
    return FetchResult(comp.slug, data_dir, True, identity["size"], resumed_from, tuple(comp.files.unpack))


def _download(api, comp: Competition, data_dir: Path, staging: Path, force: bool, progress: bool):
    """One try: (identity of the remote file, bytes resumed), or None when DATA_DIR already has it."""
    from kagglesdk.competitions.types.competition_api_service import ApiDownloadDataFilesRequest

    request = ApiDownloadDataFilesRequest()
    request.competition_name = comp.slug
    with api.build_kaggle_client() as kaggle:
        response = kaggle.competitions.competition_api_client.download_data_files(request)
        try:
            length = response.headers.get("Content-Length")
            identity = {"size": int(length) if length else None, "etag": response.headers.get("ETag"),
                        "last_modified": response.headers.get("Last-Modified")}
            if not force and _up_to_date(comp, data_dir, identity):
                return None
            # The client keeps a sidecar marker beside a partial file it can resume.
            resumed = staging.stat().st_size if Path(f"{staging}.kaggle-partial").is_file() and staging.is_file() else 0
            staging.parent.mkdir(parents=True, exist_ok=True)
            # max_retries=0: retries and their backoff are ours (_call); the client still resumes with Range.
            # Small chunks: a broken connection loses at most one chunk of what already arrived.
            # Its progress bar goes to stderr; its chatter on stdout ("failed after 0 retries") would mislead.
            with contextlib.redirect_stdout(io.StringIO()):
                api.download_file(response, str(staging), kaggle.http_client(), quiet=not progress,
                                  resume=True, chunk_size=DOWNLOAD_CHUNK, max_retries=0)
        finally:
            response.close()
    return identity, resumed


def _read_marker(data_dir: Path) -> dict | None:
    try:
        return json.loads((data_dir / FETCH_MARKER).read_text())
    except (OSError, ValueError):
        return None


def _write_marker(data_dir: Path, content: dict) -> None:
    write_json(data_dir / FETCH_MARKER, content)


def _up_to_date(comp: Competition, data_dir: Path, identity: dict) -> bool:
    """True when DATA_DIR holds, complete and unpacked, the download that IDENTITY describes."""
    marker = _read_marker(data_dir)
    if not marker or marker.get("identity") != identity or not (identity["etag"] or identity["last_modified"]):
        return False
    return (all((data_dir / entry).exists() for entry in marker["entries"])
            and all((data_dir / Path(name).stem).is_dir() for name in comp.files.unpack))


def _unpack(comp: Competition, data_dir: Path, staging: Path) -> list[str]:
    """Move the download's contents into DATA_DIR, then extract the nested archives; the top-level names."""
    from kagglekit.archive import extract_once

    unpacked = data_dir / STAGING / "unpacked"
    shutil.rmtree(unpacked, ignore_errors=True)
    extract_once(staging, unpacked)  # refuses entries that would land outside, naming the first
    entries = sorted(p.name for p in unpacked.iterdir())
    for name in entries:
        _replace(unpacked / name, data_dir / name)
    for name in comp.files.unpack:
        archive = data_dir / name
        if not archive.is_file():
            raise KagglekitError(f"the download of {comp.slug} has no {name}, which {comp.source} lists in "
                                 "files.unpack; fix the competition definition")
        target = data_dir / Path(name).stem
        shutil.rmtree(target, ignore_errors=True)  # unpacked from an older download
        extract_once(archive, target)
    return entries


def _replace(src: Path, dst: Path) -> None:
    if dst.is_dir() and not dst.is_symlink():
        shutil.rmtree(dst)
    elif dst.exists() or dst.is_symlink():
        dst.unlink()
    os.replace(src, dst)


# -- a competition without a definition ----------------------------------------

def _unnamed(slug: str) -> Competition:
    """A stand-in for SLUG's definition while there is none: enough to download and to word errors."""
    from kagglekit.competition import Files, Labels, Submission

    return Competition(slug=slug, title=slug, files=Files("", ""), labels=Labels(), submission=Submission(), metric="")


def competition_record(slug: str, retry: RetryPolicy | None = None) -> dict | None:
    """SLUG's entry in Kaggle's competition listing (title, url, evaluation_metric), or None when it is not found."""
    policy = retry or RetryPolicy.from_env()
    api = connect()
    for search in dict.fromkeys((slug, slug.replace("-", " "))):  # the listing's search matches words of the title
        found = _call(lambda text=search: api.competitions_list(search=text), _unnamed(slug),
                      "look the competition up", policy)
        for item in (found.competitions if found else None) or []:
            if item and (item.ref or item.url or "").rstrip("/").rsplit("/", 1)[-1] == slug:
                return {"title": item.title, "url": item.url, "evaluation_metric": item.evaluation_metric}
    return None


def fetch_new_competition(slug: str, data_dir: Path, definition: Path, force: bool = False, progress: bool = False,
                          settings: dict | None = None, retry: RetryPolicy | None = None):
    """Fetch a competition kagglekit has no definition for, infer one from its files and record, write it to DEFINITION.

    Returns (FetchResult, InferredDefinition). The image zips in the download
    are unpacked before the inference, so a download whose definition cannot
    be inferred is still complete for `kagglekit init`.
    """
    from kagglekit.archive import extract_once
    from kagglekit.competition_toml import write_definition
    from kagglekit.infer_competition import image_archives, infer_definition

    policy = retry or RetryPolicy.from_env()
    data_dir = Path(data_dir)
    result = fetch_competition(_unnamed(slug), data_dir, force, progress, policy)
    shipped = set(_read_marker(data_dir)["entries"])
    for name in image_archives(data_dir):
        target = data_dir / Path(name).stem
        if result.downloaded and target.name not in shipped:
            shutil.rmtree(target, ignore_errors=True)  # unpacked from an older download
        extract_once(data_dir / name, target)
    try:
        record = competition_record(slug, policy)
    except KagglekitError as exc:  # the files are here: a missing record costs only the metric's certainty
        log.warning("could not read the competition's record (%s); the metric will be a guess", exc)
        record = None
    inferred = infer_definition(data_dir, slug, record, settings, origin=" fetch",
                                how_to_set=f"the files are in {data_dir}: run 'kagglekit init -c {slug} --set {{key}}=VALUE'")
    write_definition(inferred.text, definition)
    return replace(result, unpacked=inferred.competition.files.unpack), inferred


# -- submit ------------------------------------------------------------------

def default_submission_file(comp: Competition) -> Path:
    """The newest submission.csv that 'kagglekit predict' wrote into a run of the competition."""
    from kagglekit.run_folder import RUNS_ROOT, latest_submission_file

    found = latest_submission_file(comp.slug)
    if found is None:
        raise KagglekitError(f"no submission file given and none under {RUNS_ROOT}/{comp.slug}/; "
                             "pass FILE or run 'kagglekit predict' first")
    return found


def submit_file(comp: Competition, file: Path, message: str, data_dir: Path, wait: bool = False,
                retry: RetryPolicy | None = None, timeout: float = 3600.0) -> SubmitResult:
    """Validate FILE, send it (start upload, upload, create submission) and, with WAIT, poll for its score."""
    from kagglekit.submission import validate_file

    policy = retry or RetryPolicy.from_env()
    file = Path(file)
    if not message.strip():
        raise KagglekitError("the submission message is empty; describe the submission with -m '...'")
    validate_file(comp, file, data_dir)  # an invalid file is never sent
    api = connect()
    # A retry after a lost answer must not submit twice (each one counts against the daily limit):
    # before sending again, look for a submission of this file and message that was not there before.
    earlier = {sub.ref for sub in _call(lambda: _submissions(api, comp), comp, "list your submissions", policy)}
    tries = 0

    def send():
        nonlocal tries
        tries += 1
        if tries > 1:
            landed = [sub for sub in _submissions(api, comp)
                      if sub.ref not in earlier and sub.description == message and sub.file_name == file.name]
            if landed:
                log.warning("the submission had reached Kaggle before the answer was lost: not sending it again")
                return SimpleNamespace(ref=landed[0].ref, message="submitted (the first answer was lost)")
        answer = api.competition_submit(str(file), message, comp.slug, quiet=True)
        if answer.message == api.COMPETITION_SUBMIT_UPLOAD_FAILED_MESSAGE:
            raise _UploadFailed(answer.message)
        return answer

    answer = _call(send, comp, "submit", policy)
    if not answer.ref:
        # Old clients said "Successfully submitted" whatever happened: only a submission ref proves it.
        raise KagglekitError(f"Kaggle did not accept the submission to {comp.slug}: {answer.message or 'no reason given'}")
    result = SubmitResult(answer.ref, file, "pending", message=answer.message)
    _remember(result, message)
    if wait:
        result = wait_for_score(api, comp, result, policy, timeout)
        _remember(result, message)
    return result


def _submissions(api, comp: Competition) -> list:
    """Your latest submissions to the competition (the client's first page, newest first)."""
    return [sub for sub in api.competition_submissions(comp.slug) or [] if sub]


def _remember(result: SubmitResult, message: str) -> None:
    """Note the submission in the run folder it came from, so `kagglekit runs` shows it and its score."""
    from kagglekit.run_folder import RunFolder, record_submission, run_dir_of

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
        sub = _call(lambda: api.get_submission(ref), comp, "check the submission", policy)
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
