"""Handlers of ``competitions.CompetitionApiService``: files, uploads, submissions and their scores.

Requests are parsed and answers built with kagglesdk's own types, so the JSON
on the wire has the shapes the kaggle client reads. Submissions are scored
when they are created, with the competition's metric against the sealed
solution, and reported as pending until the scoring delay has passed, so that
clients exercise their polling.
"""

from __future__ import annotations

import secrets
import zlib
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from kagglesdk.competitions.types import competition_api_service as api
from kagglesdk.competitions.types.competition_enums import CompetitionListTab, CompetitionSortBy, HostSegment
from kagglesdk.competitions.types.submission_status import SubmissionStatus
from kagglesdk.security.types.oauth_service import IntrospectTokenRequest, IntrospectTokenResponse

from kagglekit.core.errors import KagglekitError
from kagglekit.sandbox.routes import COMPETITIONS, OAUTH, ApiError, Call, Redirect, route
from kagglekit.sandbox.store import utc_now
from kagglekit.sandbox.teams import rank_of, standings

MAX_PAGE = 200


def _bundle(call: Call, slug: str, need_rules: bool = True):
    """The served competition SLUG after the checks Kaggle makes (404 unknown, 403 rules)."""
    bundle = call.sandbox.bundles.get(slug or "")
    if bundle is None:
        raise ApiError(404, f"Competition '{slug}' not found")
    if need_rules and not call.sandbox.store.settings(bundle.slug)["rules_accepted"]:
        raise ApiError(403, "You must accept this competition's rules before you can use its data or submit")
    return bundle


# kaggle competitions list --category NAME: the HostSegment it sends -> the category a definition names.
_CATEGORY_OF_SEGMENT = {
    HostSegment.HOST_SEGMENT_FEATURED: "Featured", HostSegment.HOST_SEGMENT_RESEARCH: "Research",
    HostSegment.HOST_SEGMENT_RECRUITMENT: "Recruitment", HostSegment.HOST_SEGMENT_GETTING_STARTED: "Getting Started",
    HostSegment.HOST_SEGMENT_MASTERS: "Masters", HostSegment.HOST_SEGMENT_PLAYGROUND: "Playground",
    HostSegment.HOST_SEGMENT_COMMUNITY: "Community", HostSegment.HOST_SEGMENT_ANALYTICS: "Analytics",
}
# Kaggle's own ranking ("best", "grouped") puts prize competitions first; the sandbox ranks by category in this order.
_CATEGORY_RANK = ("Featured", "Research", "Recruitment", "Masters", "Analytics", "Playground", "Getting Started",
                  "Community", "")
NO_DEADLINE = datetime(9999, 12, 31)  # sorts a competition without a deadline after every dated one


def _in_group(call: Call, bundle, group: CompetitionListTab) -> bool:
    """Whether a competition is on the listing's tab: entered (rules accepted), community, hosted (none are)..."""
    community = bundle.comp.category == "Community"
    if group == CompetitionListTab.COMPETITION_LIST_TAB_ENTERED:
        return call.sandbox.store.settings(bundle.slug)["rules_accepted"]
    if group == CompetitionListTab.COMPETITION_LIST_TAB_COMMUNITY:
        return community
    if group == CompetitionListTab.COMPETITION_LIST_TAB_GENERAL:
        return not community
    if group == CompetitionListTab.COMPETITION_LIST_TAB_EVERYTHING:
        return True
    return False  # hosted, unlaunched: the sandbox's user hosts nothing and every competition is launched


def _prize(reward: str) -> float:
    digits = "".join(c for c in reward if c.isdigit() or c == ".")
    return float(digits) if digits and any(c.isdigit() for c in digits) else 0.0


def _sort_key(sort_by: CompetitionSortBy, bundle, teams: int, words: list[str]):
    """Sort key for --sort-by (ascending: the listing's first entry first)."""
    comp = bundle.comp
    deadline = comp.deadline or NO_DEADLINE
    if sort_by == CompetitionSortBy.COMPETITION_SORT_BY_EARLIEST_DEADLINE:
        return (deadline, comp.slug)
    if sort_by == CompetitionSortBy.COMPETITION_SORT_BY_LATEST_DEADLINE:
        return (-deadline.timestamp() if comp.deadline else float("-inf"), comp.slug)
    if sort_by == CompetitionSortBy.COMPETITION_SORT_BY_PRIZE:
        return (-_prize(comp.reward), comp.slug)
    if sort_by == CompetitionSortBy.COMPETITION_SORT_BY_NUMBER_OF_TEAMS:
        return (-teams, comp.slug)
    if sort_by == CompetitionSortBy.COMPETITION_SORT_BY_RECENTLY_CREATED:
        return (-bundle.modified, comp.slug)
    if sort_by == CompetitionSortBy.COMPETITION_SORT_BY_RELEVANCE:
        text = f"{comp.slug} {comp.title}".lower()
        return (-sum(text.count(w) for w in words), comp.slug)
    rank = _CATEGORY_RANK.index(comp.category) if comp.category in _CATEGORY_RANK else len(_CATEGORY_RANK)
    return (rank, deadline, comp.slug)  # best, grouped


@route(COMPETITIONS, "ListCompetitions")
def list_competitions(call: Call):
    """``kaggle competitions list``: the served competitions on the tab (--group) and in the category asked for,
    whose slug or title holds every word searched for, sorted as --sort-by says, with their record's fields."""
    req = api.ApiListCompetitionsRequest.from_dict(call.body)
    words = (req.search or "").lower().split()
    group = req.group if req.group is not None else CompetitionListTab.COMPETITION_LIST_TAB_EVERYTHING
    category = _CATEGORY_OF_SEGMENT.get(req.category)  # None: every category (unspecified, "all")
    teams = {slug: len(standings(call.sandbox, b)) for slug, b in call.sandbox.bundles.items()}
    found = [b for _, b in sorted(call.sandbox.bundles.items())
             if all(w in f"{b.slug} {b.comp.title}".lower() for w in words) and _in_group(call, b, group)
             and category in (None, b.comp.category)]
    sort_by = req.sort_by if req.sort_by is not None else CompetitionSortBy.COMPETITION_SORT_BY_BEST
    found.sort(key=lambda b: _sort_key(sort_by, b, teams[b.slug], words))
    size = min(req.page_size or 20, MAX_PAGE)
    start = int(req.page_token) if (req.page_token or "").isdigit() else max((req.page or 1) - 1, 0) * size
    answer = api.ApiListCompetitionsResponse()
    answer.competitions = [_as_api_competition(call, b, teams[b.slug]) for b in found[start:start + size]]
    if start + size < len(found):
        answer.next_page_token = str(start + size)
    return answer


def _as_api_competition(call: Call, bundle, team_count: int) -> api.ApiCompetition:
    settings = call.sandbox.store.settings(bundle.slug)
    comp = bundle.comp
    out = api.ApiCompetition()
    out.id = zlib.crc32(bundle.slug.encode()) & 0x7FFFFFFF
    # Kaggle's listing gives the competition's page as its ref, and the slug ends it.
    out.ref = out.url = comp.url or f"https://www.kaggle.com/competitions/{bundle.slug}"
    out.title = comp.title
    out.category, out.reward, out.host_name = comp.category, comp.reward, "kagglekit sandbox"
    out.evaluation_metric = bundle.evaluation_metric  # Kaggle's words, or empty when the sandbox only guessed it
    out.enabled_date = out.date_created = datetime.fromtimestamp(bundle.modified, timezone.utc).replace(tzinfo=None)
    if comp.deadline is not None:
        out.deadline = out.merger_deadline = out.new_entrant_deadline = comp.deadline
    out.team_count = team_count
    out.user_rank = rank_of(call.sandbox, bundle, call.user)
    out.user_has_entered = settings["rules_accepted"]
    out.submissions_disabled = settings["closed"]
    out.is_kernels_submissions_only = comp.is_code_competition
    out.max_daily_submissions = settings["daily_limit"] if settings["daily_limit"] is not None else call.sandbox.daily_limit
    return out


@route(COMPETITIONS, "ListDataFiles")
def list_data_files(call: Call):
    req = api.ApiListDataFilesRequest.from_dict(call.body)
    bundle = _bundle(call, req.competition_name)
    start = int(req.page_token) if (req.page_token or "").isdigit() else 0
    size = min(req.page_size or 20, MAX_PAGE)
    answer = api.ApiListDataFilesResponse()
    files = []
    for name in bundle.files[start:start + size]:
        item = api.ApiDataFile()
        item.ref = item.name = name
        item.total_bytes = (bundle.folder / name).stat().st_size
        item.creation_date = bundle.created(name)
        files.append(item)
    answer.files = files
    if start + size < len(bundle.files):
        answer.next_page_token = str(start + size)
    return answer


@route(COMPETITIONS, "DownloadDataFiles")
def download_data_files(call: Call):
    req = api.ApiDownloadDataFilesRequest.from_dict(call.body)
    bundle = _bundle(call, req.competition_name)
    return Redirect(f"{call.base_url}/sandbox/files/{bundle.slug}.zip")


@route(COMPETITIONS, "DownloadDataFile")
def download_data_file(call: Call):
    req = api.ApiDownloadDataFileRequest.from_dict(call.body)
    bundle = _bundle(call, req.competition_name)
    path = bundle.file_path(req.file_name)
    if path is None:
        raise ApiError(404, f"Competition {bundle.slug} has no data file '{req.file_name}'")
    # Kaggle serves a large file compressed: a request for train.csv is answered with train.csv.zip.
    zipped = call.sandbox.zip_files_over is not None and path.stat().st_size > call.sandbox.zip_files_over
    return Redirect(f"{call.base_url}/sandbox/files/{bundle.slug}/{quote(req.file_name)}{'.zip' if zipped else ''}")


def _refuse_files_to_code_competition(bundle) -> None:
    """A code competition scores kernel reruns only: no uploaded file is taken, as on Kaggle."""
    if bundle.comp.is_code_competition:
        raise ApiError(400, f"Competition {bundle.slug} is a code competition: submissions must be made through "
                            "Notebooks (kaggle competitions submit -k OWNER/NOTEBOOK -v VERSION)")


@route(COMPETITIONS, "StartSubmissionUpload")
def start_submission_upload(call: Call):
    req = api.ApiStartSubmissionUploadRequest.from_dict(call.body)
    bundle = _bundle(call, req.competition_name)
    _refuse_files_to_code_competition(bundle)
    token = secrets.token_urlsafe(18)
    with call.sandbox.store.change() as data:
        data["uploads"][token] = {"competition": bundle.slug, "user": call.user, "file_name": req.file_name,
                                  "content_length": req.content_length, "received": None}
    answer = api.ApiStartSubmissionUploadResponse()
    answer.token = token
    answer.create_url = f"{call.base_url}/sandbox/uploads/{token}"
    return answer


def _check_allowed(call: Call, bundle) -> None:
    """Refuse a submission to a closed competition or past the daily limit, with Kaggle's kind of reason."""
    settings = call.sandbox.store.settings(bundle.slug)
    if settings["closed"]:
        raise ApiError(400, f"Competition {bundle.slug} has closed; it no longer accepts submissions")
    limit = settings["daily_limit"] if settings["daily_limit"] is not None else call.sandbox.daily_limit
    if _used_today(call, bundle.slug) >= limit:
        raise ApiError(400, f"Submission not allowed: your team has used its daily allowance of {limit} "
                            "submissions; try again after midnight UTC")


def _used_today(call: Call, slug: str) -> int:
    today = utc_now().date().isoformat()
    # As on Kaggle, submissions that failed to score do not count.
    return sum(1 for s in call.sandbox.store.submissions(slug, call.user)
               if s["date"].startswith(today) and s["status"] != SubmissionStatus.ERROR.name)


@route(COMPETITIONS, "CreateSubmission")
def create_submission(call: Call):
    req = api.ApiCreateSubmissionRequest.from_dict(call.body)
    bundle = _bundle(call, req.competition_name)
    _refuse_files_to_code_competition(bundle)
    store = call.sandbox.store
    upload = store.data["uploads"].get(req.blob_file_tokens)
    if not upload or upload["user"] != call.user or upload["competition"] != bundle.slug or not upload["received"]:
        raise ApiError(400, "Unknown or unfinished upload token; upload the file first")
    _check_allowed(call, bundle)
    score, error = score_upload(bundle, store.upload_path(req.blob_file_tokens))
    now = utc_now()
    with store.change() as data:
        ref = data["next_ref"]
        data["next_ref"] += 1
        data["submissions"].append({
            "ref": ref, "competition": bundle.slug, "user": call.user, "file_name": upload["file_name"],
            "description": req.submission_description or "", "date": now.isoformat(), "total_bytes": upload["received"],
            "status": (SubmissionStatus.ERROR if error else SubmissionStatus.COMPLETE).name,
            "public_score": score, "error": error,
            "scored_at": (now + timedelta(seconds=call.sandbox.scoring_delay)).isoformat(),
        })
        del data["uploads"][req.blob_file_tokens]
    answer = api.ApiCreateSubmissionResponse()
    answer.ref = ref
    answer.message = f"Successfully submitted to {bundle.comp.title}"
    return answer


def score_upload(bundle, path) -> tuple[str | None, str | None]:
    """(public score, None) for a valid file, or (None, the reason it cannot be scored)."""
    from kagglekit.prediction.submission import check_submission, read_csv_text, read_sample, score_submission

    if bundle.solution is None:
        return None, f"the sandbox has no solution file for {bundle.slug}, so it cannot score submissions"
    try:
        df = read_csv_text(path, "submission")
        check_submission(bundle.comp, df, read_sample(bundle.comp, bundle.folder))
        value = score_submission(bundle.comp, df, read_csv_text(bundle.solution, "solution"))
    except KagglekitError as exc:
        return None, f"Submission could not be scored: {exc}"
    return f"{value:.5f}", None


def _as_api_submission(sub: dict) -> api.ApiSubmission:
    out = api.ApiSubmission()
    out.ref = sub["ref"]
    out.total_bytes = sub["total_bytes"]
    out.date = datetime.fromisoformat(sub["date"])
    out.description = sub["description"]
    out.file_name = sub["file_name"]
    out.submitted_by = out.team_name = sub["user"]
    pending = utc_now() < datetime.fromisoformat(sub["scored_at"])
    out.status = SubmissionStatus.PENDING if pending else SubmissionStatus[sub["status"]]
    if not pending:
        out.public_score = sub["public_score"]
        out.error_description = sub["error"]
    return out


@route(COMPETITIONS, "GetSubmission")
def get_submission(call: Call):
    req = api.ApiGetSubmissionRequest.from_dict(call.body)
    for sub in call.sandbox.store.submissions(user=call.user):
        if sub["ref"] == req.ref:
            return _as_api_submission(sub)
    raise ApiError(404, f"Submission {req.ref} not found")


@route(COMPETITIONS, "ListSubmissions")
def list_submissions(call: Call):
    req = api.ApiListSubmissionsRequest.from_dict(call.body)
    bundle = _bundle(call, req.competition_name, need_rules=False)
    subs = call.sandbox.store.submissions(bundle.slug, call.user)
    start = int(req.page_token) if (req.page_token or "").isdigit() else 0
    size = min(req.page_size or 20, MAX_PAGE)
    answer = api.ApiListSubmissionsResponse()
    answer.submissions = [_as_api_submission(s) for s in subs[start:start + size]]
    if start + size < len(subs):
        answer.next_page_token = str(start + size)
    return answer


@route(COMPETITIONS, "GetSubmissionLimits")
def get_submission_limits(call: Call):
    req = api.ApiGetSubmissionLimitsRequest.from_dict(call.body)
    bundle = _bundle(call, req.competition_name, need_rules=False)
    settings = call.sandbox.store.settings(bundle.slug)
    limit = settings["daily_limit"] if settings["daily_limit"] is not None else call.sandbox.daily_limit
    answer = api.ApiSubmissionLimits()
    answer.num_today = _used_today(call, bundle.slug)
    answer.num_total = len(call.sandbox.store.submissions(bundle.slug, call.user))
    answer.num_allowed_now = max(0, limit - answer.num_today)
    return answer


@route(OAUTH, "IntrospectToken", auth=False)
def introspect_token(call: Call):
    """Lets KAGGLE_API_TOKEN work too: a sandbox key is accepted as an access token."""
    req = IntrospectTokenRequest.from_dict(call.body)
    user = call.sandbox.store.user_for(None, req.token)
    answer = IntrospectTokenResponse()
    answer.active = user is not None
    if user:
        answer.username = user
    return answer
