"""The public leaderboard: ``kaggle competitions leaderboard --show / --download``.

One row per team that has a scored submission, best first: the team's
standing (kagglekit.sandbox.teams). The whole solution file is the
public leaderboard (the sandbox has no private split). The download is a zip
holding ``<slug>-publicleaderboard.csv`` (TeamId, TeamName, SubmissionDate,
Score), built from the standings at the moment it is asked for.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from datetime import datetime
from email.utils import formatdate

from kagglesdk.competitions.types import competition_api_service as api

from kagglekit.core.atomic import write_bytes
from kagglekit.sandbox.competitions import MAX_PAGE, _bundle
from kagglekit.sandbox.routes import COMPETITIONS, Call, Download, Redirect, download, route
from kagglekit.sandbox.teams import Standing, standings

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
