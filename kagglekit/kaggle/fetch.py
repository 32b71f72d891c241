"""Kaggle I/O: fetch a competition's files and submit a file, through the official kaggle client.

Everything goes through ``KaggleApi`` (no HTTP of our own), so the same code
talks to Kaggle and to ``kagglekit sandbox``; every call goes through
kagglekit.kaggle.remote (timeouts, retries, one-line errors). What this module adds:
what a failure means for a competition (its rules, its slug), downloads that
are idempotent and never leave a partial file where the catalog would take it
for complete (the whole competition, or only some of its files), a refusal to
send a submission that fails validation or that the day's allowance has no
room for, and never the same submission twice.

Credentials stay inside the client: nothing here reads, prints, logs or
writes them.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import io
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, TypeVar

from kagglekit.competition.definition import Competition
from kagglekit.core.atomic import write_json
from kagglekit.core.errors import KagglekitError
from kagglekit.kaggle.remote import Hints, RetryPolicy, UploadFailed, call, connect

log = logging.getLogger("kagglekit")
T = TypeVar("T")

# Written last by fetch: its presence says the data folder holds a complete download.
FETCH_MARKER = ".kagglekit-fetch.json"
# Downloads in progress live here, out of the catalog's sight, until they are complete.
STAGING = ".download"
DOWNLOAD_CHUNK = 64 * 1024


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
    left_today: int | None = None  # submissions Kaggle still allows today after this one, when it can tell


def _call(fn: Callable[[], T], comp: Competition, what: str, policy: RetryPolicy, staging: Path | None = None) -> T:
    """FN() through remote.call, with what a failure means for a competition (its rules, its slug, a kept download)."""
    where = f" in {comp.source}" if comp.source else ""

    def cut_off(tries: int, why: str) -> str | None:
        if staging is None or not staging.is_file():
            return None
        return (f"the download of {comp.slug} was cut off {tries} times ({why}); the {staging.stat().st_size} bytes "
                "received are kept, run the same command again to resume")

    hints = Hints(by_status={
        403: lambda why: (f"Kaggle refused to {what} for {comp.slug} (403: {why}); accept the competition's rules at "
                          f"{comp.rules_url} (the API cannot accept them for you) and run again"),
        404: lambda why: f"Kaggle has no competition '{comp.slug}' (404: {why}); check the slug{where}",
    }, cut_off=cut_off)
    return call(fn, f"{what} for {comp.slug}", policy, hints)


# -- fetch -------------------------------------------------------------------

def fetch_competition(comp: Competition, data_dir: Path, force: bool = False, progress: bool = False,
                      retry: RetryPolicy | None = None) -> FetchResult:
    """Download the competition's files into DATA_DIR and unpack them; a no-op when already up to date.

    The download goes to DATA_DIR/.download/ and is unpacked only once
    complete; an interrupted one is resumed by the next call (with Range
    requests, by the client, which checks that the bytes kept belong to the
    same remote file). FORCE downloads and unpacks again even when DATA_DIR is
    up to date; a forced download cut off partway resumes like any other.
    """
    policy = retry or RetryPolicy.from_env()
    data_dir = Path(data_dir)
    staging = data_dir / STAGING / f"{comp.slug}.zip"
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


def _save_response(api, kaggle, response, path: Path, progress: bool) -> None:
    """Write a download RESPONSE to PATH through the client, resuming a partial file with Range.

    max_retries=0: retries and their backoff are ours (_call). Small chunks: a broken connection loses
    at most one chunk of what already arrived. The client's progress bar goes to stderr; its chatter on stdout
    ("failed after 0 retries") would mislead, so it is dropped.
    """
    with contextlib.redirect_stdout(io.StringIO()):
        api.download_file(response, str(path), kaggle.http_client(), quiet=not progress,
                          resume=True, chunk_size=DOWNLOAD_CHUNK, max_retries=0)


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
            _save_response(api, kaggle, response, staging, progress)
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
    from kagglekit.core.archive import extract_once

    unpacked = data_dir / STAGING / "unpacked"
    shutil.rmtree(unpacked, ignore_errors=True)
    try:
        extract_once(staging, unpacked)  # refuses damaged archives and unsafe or outsized entries, naming the first
    except KagglekitError as exc:  # resuming these bytes would only give the same archive again
        shutil.rmtree(data_dir / STAGING, ignore_errors=True)
        raise KagglekitError(f"{exc} (the download was deleted: run the same command again to download it afresh)") \
            from None
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


# -- some files only ---------------------------------------------------------------

@dataclass(frozen=True)
class FileFetch:
    """One competition file that fetch_files brought, or found already there."""

    name: str
    path: Path
    size: int
    downloaded: bool  # False: the file was already there with Kaggle's size


def competition_files(api, comp: Competition, policy: RetryPolicy) -> list:
    """The competition's files as Kaggle lists them (every page)."""
    files, token = [], None
    while True:
        page = _call(lambda t=token: api.competition_list_files(comp.slug, page_token=t, page_size=200), comp,
                     "list the files", policy)
        files += [f for f in (page.files if page else None) or [] if f and f.name]
        token = page.next_page_token if page else None
        if not token:
            return files


def fetch_files(comp: Competition, names: list[str], data_dir: Path, force: bool = False, progress: bool = False,
                retry: RetryPolicy | None = None) -> list[FileFetch]:
    """Only the files NAMES (names or globs, e.g. '*.csv') of the competition into DATA_DIR, each as Kaggle lists it.

    A file already there with the size Kaggle lists is kept (FORCE downloads it again). Each arrives in
    DATA_DIR/.download/ first and replaces the one in DATA_DIR only when complete; a large file Kaggle
    serves zipped (NAME.zip) is unzipped; a file the definition lists under files.unpack is unpacked.
    """
    policy = retry or RetryPolicy.from_env()
    data_dir = Path(data_dir)
    api = connect()
    listed = competition_files(api, comp, policy)
    chosen: dict[str, object] = {}
    for name in names:
        matched = [f for f in listed if f.name == name or fnmatch.fnmatchcase(f.name, name)]
        if not matched:
            known = ", ".join(f.name for f in listed[:20]) + (" ..." if len(listed) > 20 else "")
            raise KagglekitError(f"{comp.slug} has no file matching '{name}'; its files: {known or 'none'}")
        chosen.update((f.name, f) for f in matched)
    return [_fetch_one(api, comp, item, data_dir, force, progress, policy) for item in chosen.values()]


def _fetch_one(api, comp: Competition, item, data_dir: Path, force: bool, progress: bool,
               policy: RetryPolicy) -> FileFetch:
    from kagglekit.core.archive import extract_once

    target = _inside(data_dir, item.name)
    if not force and target.is_file() and item.total_bytes and target.stat().st_size == item.total_bytes:
        return FileFetch(item.name, target, target.stat().st_size, False)
    staging = _inside(data_dir / STAGING / "files", item.name)
    served = _call(lambda: _download_file(api, comp, item.name, staging, progress), comp,
                   f"download {item.name}", policy, staging)
    target.parent.mkdir(parents=True, exist_ok=True)
    if served.name == f"{staging.name}.zip":  # Kaggle zips a large file: take the file out of it
        unzipped = served.with_name(f".{served.name}.unzipped")
        shutil.rmtree(unzipped, ignore_errors=True)  # left by an interrupted run
        extract_once(served, unzipped)
        inside = [p for p in unzipped.rglob("*") if p.is_file()]
        if len(inside) != 1:
            raise KagglekitError(f"Kaggle sent {item.name} as a zip of {len(inside)} files, not the file alone; "
                                 f"download the whole competition with 'kagglekit fetch'")
        _replace(inside[0], target)
        shutil.rmtree(unzipped, ignore_errors=True)
        served.unlink()
    else:
        _replace(served, target)
    if item.name in comp.files.unpack:
        folder = data_dir / Path(item.name).stem
        shutil.rmtree(folder, ignore_errors=True)  # unpacked from an older copy
        extract_once(target, folder)
    return FileFetch(item.name, target, target.stat().st_size, True)


def _inside(folder: Path, name: str) -> Path:
    """FOLDER/NAME, refusing a name (it comes from Kaggle's listing) that would land outside FOLDER."""
    path = (folder / name).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise KagglekitError(f"refusing the competition file '{name}': it would land outside {folder}")
    return folder / name


def _download_file(api, comp: Competition, name: str, staging: Path, progress: bool) -> Path:
    """One try: the file NAME into STAGING's folder, under the name Kaggle serves it as (NAME or NAME.zip)."""
    from urllib.parse import unquote

    from kagglesdk.competitions.types.competition_api_service import ApiDownloadDataFileRequest

    request = ApiDownloadDataFileRequest()
    request.competition_name, request.file_name = comp.slug, name
    with api.build_kaggle_client() as kaggle:
        response = kaggle.competitions.competition_api_client.download_data_file(request)
        try:
            served_as = unquote(response.url.split("?")[0].rsplit("/", 1)[-1])
            served = staging.with_name(served_as if served_as in (staging.name, f"{staging.name}.zip") else staging.name)
            served.parent.mkdir(parents=True, exist_ok=True)
            _save_response(api, kaggle, response, served, progress)
        finally:
            response.close()
    return served


# -- a competition without a definition ----------------------------------------

def _unnamed(slug: str) -> Competition:
    """A stand-in for SLUG's definition while there is none: enough to download and to word errors."""
    from kagglekit.competition.definition import Files, Labels, Submission

    return Competition(slug=slug, title=slug, files=Files("", ""), labels=Labels(), submission=Submission(), metric="")


def definition_or_stand_in(slug: str) -> Competition:
    """SLUG's definition, or a stand-in when kagglekit has none yet (enough to download files and word errors)."""
    from kagglekit.competition.definition import load_competition
    from kagglekit.competition.infer import has_definition

    return load_competition(slug) if has_definition(slug) else _unnamed(slug)


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
    from kagglekit.competition.infer import image_archives, infer_definition
    from kagglekit.competition.toml import write_definition
    from kagglekit.core.archive import extract_once

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

    answer = send_once(api, comp, flight, send, policy)
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
        limits = _call(lambda: ask(comp.slug), comp, "ask how many submissions are left today", policy)
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


def _in_flight_path() -> Path:
    from kagglekit.data.catalog import cache_dir

    return cache_dir() / IN_FLIGHT_FILE


def _in_flight_records() -> list[dict]:
    try:
        data = json.loads(_in_flight_path().read_text())
    except (OSError, ValueError):
        return []
    return data if isinstance(data, list) else []


def _in_flight_since(flight: InFlight) -> datetime | None:
    """When an earlier run started sending FLIGHT (UTC), if it never heard back."""
    for record in _in_flight_records():
        if {k: record.get(k) for k in vars(flight)} == vars(flight):
            return datetime.fromisoformat(record["started"])
    return None


def _set_in_flight(flight: InFlight, started: datetime | None) -> None:
    """Record FLIGHT as being sent since STARTED, or forget it (STARTED None)."""
    records = [r for r in _in_flight_records() if {k: r.get(k) for k in vars(flight)} != vars(flight)]
    if started is not None:
        records.append({**vars(flight), "started": started.isoformat()})
    write_json(_in_flight_path(), records)


def _landed(api, comp: Competition, flight: InFlight, since: datetime | None, earlier: set) -> object | None:
    """Kaggle's submission that is FLIGHT, made after SINCE (or not among EARLIER refs), if there is one."""
    for sub in _submissions(api, comp):
        if not flight.matches(sub) or sub.ref in earlier:
            continue
        if since is None or sub.date is None or sub.date >= since - timedelta(seconds=CLOCK_SKEW):
            return sub
    return None


def send_once(api, comp: Competition, flight: InFlight, send: Callable[[], object], policy: RetryPolicy):
    """SEND() the submission FLIGHT unless Kaggle already has it; retried without ever sending it twice.

    An answer can be lost after Kaggle took the submission. Before each retry, and
    before sending at all when an earlier run never heard back, Kaggle's list of
    submissions is searched for this one; found, it is adopted.
    """
    since = _in_flight_since(flight)
    earlier = {sub.ref for sub in _call(lambda: _submissions(api, comp), comp, "list your submissions", policy)}
    if since is not None:
        landed = _call(lambda: _landed(api, comp, flight, since, set()), comp, "list your submissions", policy)
        if landed is not None:
            log.warning("the submission an earlier run sent reached Kaggle (ref %s): adopting it, not sending it again",
                        landed.ref)
            _set_in_flight(flight, None)
            return SimpleNamespace(ref=landed.ref, message="submitted by an earlier run (its answer was lost)")
    tries = 0

    def attempt():
        nonlocal tries
        tries += 1
        if tries > 1:
            landed = _landed(api, comp, flight, None, earlier)
            if landed is not None:
                log.warning("the submission had reached Kaggle before the answer was lost: not sending it again")
                return SimpleNamespace(ref=landed.ref, message="submitted (the first answer was lost)")
        return send()

    _set_in_flight(flight, since or datetime.now(timezone.utc).replace(tzinfo=None))
    try:
        answer = _call(attempt, comp, "submit", policy)
    except KagglekitError as exc:
        if not getattr(exc, "unanswered", False):  # a clear refusal: nothing is on its way
            _set_in_flight(flight, None)
            raise
        raise KagglekitError(f"{exc}; the submission may already have reached Kaggle: run the same command again, "
                             "it looks for it before sending a second copy") from None
    _set_in_flight(flight, None)
    if not answer.ref:
        # Old clients said "Successfully submitted" whatever happened: only a submission ref proves it.
        raise KagglekitError(f"Kaggle did not accept the submission to {comp.slug}: {answer.message or 'no reason given'}")
    return answer


def _submissions(api, comp: Competition) -> list:
    """Your latest submissions to the competition (the client's first page, newest first)."""
    return [sub for sub in api.competition_submissions(comp.slug) or [] if sub]


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
