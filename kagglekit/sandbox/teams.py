"""Teams and their standings: every user is on one team, and a team's place is its best scored submission.

A user is a team of one, named after them, until ``Sandbox.add_user(name,
team=...)`` puts them on another. A team's standing is its best public score
by the competition's metric (higher or lower is better, as the metric says),
ties going to the earlier submission, as on Kaggle; submissions still pending
or that failed to score do not count. Teams are typed records (state.json,
section "teams"); the leaderboard calls (kagglekit.sandbox.leaderboard) and the
competition listing's team counts and ranks read them from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from kagglesdk.competitions.types.submission_status import SubmissionStatus

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
