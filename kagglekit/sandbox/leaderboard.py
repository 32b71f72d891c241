"""Teams and the public leaderboard: ``kaggle competitions leaderboard --show / --download``.

Every user is on one team (a team of one, named after the user, until
``Sandbox.add_user(name, team=...)`` puts them on another). The leaderboard
has one row per team that has a scored submission: the team's best public
score by the competition's metric (higher or lower is better, as the metric
says), ties going to the earlier submission, as on Kaggle. Submissions still
pending or that failed to score are not on it. The whole solution file is the
public leaderboard (the sandbox has no private split). The download is a zip
holding ``<slug>-publicleaderboard.csv`` (TeamId, TeamName, SubmissionDate,
Score), built from the standings at the moment it is asked for.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import formatdate

from kagglesdk.competitions.types import competition_api_service as api
from kagglesdk.competitions.types.submission_status import SubmissionStatus

from kagglekit.core.atomic import write_bytes
from kagglekit.sandbox.competitions import MAX_PAGE, _bundle
from kagglekit.sandbox.routes import COMPETITIONS, Call, Download, Redirect, download, route
from kagglekit.sandbox.store import utc_now

SECTION = "teams"
FIRST_TEAM_ID = 1001


@dataclass
class Team:
    """A team (state.json, section "teams", keyed by its id): its name and its members' user names."""

    id: int
    name: str
    members: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Standing:
    """A team's place on a leaderboard: its best scored submission."""

    team: Team
    score: str
    date: datetime


def join_team(store, user: str, team_name: str) -> Team:
    """Put USER on the team called TEAM_NAME (made when new), off any other team."""
    with store.change_records(SECTION, Team) as teams:
        for team in teams.values():
            if user in team.members and team.name != team_name:
                team.members.remove(user)
        found = next((t for t in teams.values() if t.name == team_name), None)
        if found is None:
            found = Team(max([t.id for t in teams.values()] + [FIRST_TEAM_ID - 1]) + 1, team_name)
            teams[str(found.id)] = found
        if user not in found.members:
            found.members.append(user)
        return Team(found.id, found.name, list(found.members))


def team_of(store, user: str) -> Team:
    """USER's team (a team of one named after them when they have none yet)."""
    found = next((t for t in store.records(SECTION, Team).values() if user in t.members), None)
    return found or join_team(store, user, user)


def standings(sandbox, bundle) -> list[Standing]:
    """Each team's best scored submission to BUNDLE's competition, best first (ties: the earlier one)."""
    from kagglekit.competition.metrics import get_metric

    higher = get_metric(bundle.comp.metric).greater_is_better
    now = utc_now()
    best: dict[int, tuple[float, datetime, str, Team]] = {}
    for sub in sandbox.store.submissions(bundle.slug):
        if sub["status"] != SubmissionStatus.COMPLETE.name or sub["public_score"] is None:
            continue
        if datetime.fromisoformat(sub["scored_at"]) > now:
            continue  # still shown as pending to its team: not on the leaderboard yet
        team = team_of(sandbox.store, sub["user"])
        value, date = float(sub["public_score"]), datetime.fromisoformat(sub["date"])
        kept = best.get(team.id)
        better = kept is None or (value > kept[0] if higher else value < kept[0]) or (value == kept[0] and date < kept[1])
        if better:
            best[team.id] = (value, date, sub["public_score"], team)
    order = sorted(best.values(), key=lambda b: (-b[0] if higher else b[0], b[1]))
    return [Standing(team, score, date) for _, date, score, team in order]


def rank_of(sandbox, bundle, user: str) -> int | None:
    """USER's team's place on the leaderboard (1 is first), or None when it has no scored submission."""
    team = team_of(sandbox.store, user).id
    return next((i for i, s in enumerate(standings(sandbox, bundle), 1) if s.team.id == team), None)


@route(COMPETITIONS, "GetLeaderboard")
def get_leaderboard(call: Call):
    req = api.ApiGetLeaderboardRequest.from_dict(call.body)
    bundle = _bundle(call, req.competition_name, need_rules=False)  # as on Kaggle, anyone may read it
    rows = standings(call.sandbox, bundle)
    start = int(req.page_token) if (req.page_token or "").isdigit() else 0
    size = min(req.page_size or 20, MAX_PAGE)
    answer = api.ApiGetLeaderboardResponse()
    items = []
    for row in rows[start:start + size]:
        item = api.ApiLeaderboardSubmission()
        item.team_id, item.team_name, item.submission_date, item.score = row.team.id, row.team.name, row.date, row.score
        items.append(item)
    answer.submissions = items
    if start + size < len(rows):
        answer.next_page_token = str(start + size)
    return answer


@route(COMPETITIONS, "DownloadLeaderboard")
def download_leaderboard(call: Call):
    req = api.ApiDownloadLeaderboardRequest.from_dict(call.body)
    bundle = _bundle(call, req.competition_name, need_rules=False)
    return Redirect(f"{call.base_url}/sandbox/leaderboards/{bundle.slug}.zip")


def leaderboard_csv(rows: list[Standing]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["TeamId", "TeamName", "SubmissionDate", "Score"])
    for row in rows:
        writer.writerow([row.team.id, row.team.name, row.date.strftime("%Y-%m-%d %H:%M:%S"), row.score])
    return out.getvalue()


@download(r"/sandbox/leaderboards/([\w.-]+)\.zip")
def send_leaderboard(sandbox, match) -> Download | None:
    bundle = sandbox.bundles.get(match.group(1))
    if bundle is None:
        return None
    rows = standings(sandbox, bundle)
    text = leaderboard_csv(rows)
    digest = hashlib.sha1(text.encode()).hexdigest()[:20]
    path = sandbox.cache_dir / "leaderboards" / f"{bundle.slug}-{digest}.zip"
    if not path.is_file():
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(f"{bundle.slug}-publicleaderboard.csv", text)
        write_bytes(path, buffer.getvalue())
    newest = max((r.date for r in rows), default=datetime(2000, 1, 1))
    stamp = (newest - datetime(1970, 1, 1)).total_seconds()
    return Download(path, digest, formatdate(stamp, usegmt=True), "application/zip")
