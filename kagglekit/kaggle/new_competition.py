"""A competition kagglekit has no definition for: look up its record, fetch it, infer and write a definition."""

from __future__ import annotations

import logging
import shutil
from dataclasses import replace
from pathlib import Path

from kagglekit.competition.definition import Competition
from kagglekit.core.errors import KagglekitError
from kagglekit.kaggle.competition_call import competition_call
from kagglekit.kaggle.fetch import fetch_competition, read_marker
from kagglekit.kaggle.remote import RetryPolicy, connect

log = logging.getLogger("kagglekit")


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
        found = competition_call(lambda text=search: api.competitions_list(search=text), _unnamed(slug),
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
    shipped = set(read_marker(data_dir)["entries"])
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
