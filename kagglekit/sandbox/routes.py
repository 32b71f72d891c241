"""The sandbox's dispatch table: one handler per (service, method) of Kaggle's API.

The kaggle client sends every call as ``POST /api/v1/{service}/{Method}`` with
a JSON body. The server looks the pair up in ROUTES and calls the handler with
a Call. A handler parses the body with the kagglesdk request type and returns
the kagglesdk response object (serialized with the type's own ``to_dict``, so
the JSON is exactly what the client expects), a Redirect, or None; it raises
ApiError for an HTTP error.

Competition calls live in ``kagglekit.sandbox.competitions`` (leaderboards in
``leaderboard``), kernel pushes and sessions in ``kernels``, the kernel queries
(list, pull, files) in ``kernel_queries``, datasets and their uploads in
``datasets``, Kaggle Models in ``models``, code submissions and their reruns in
``reruns``. Each registers its handlers with ``@route`` and is listed in
HANDLER_MODULES.

A call no module serves is answered ``400`` with "not served by kagglekit
sandbox: METHOD": the client prints a 5xx as "a problem on Kaggle's side, try
again later" (and kagglekit retries it), which would pass a missing feature off
as an outage.

The bytes that answers point to (``Redirect``) are served by GET handlers that
a module registers with ``@download(PATTERN)``: the handler returns a Download
(a file and its identity), which the server sends with Range/If-Range support,
so every download resumes as competition files do.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

COMPETITIONS = "competitions.CompetitionApiService"
KERNELS = "kernels.KernelsApiService"
OAUTH = "security.OAuthService"
DATASETS = "datasets.DatasetApiService"
BLOBS = "blobs.BlobApiService"
MODELS = "models.ModelApiService"
SITE = "https://www.kaggle.com"  # the pages answers link to (kernels, datasets, models), as Kaggle's answers do
NOT_SERVED_STATUS = 400  # not 501: see the module's docstring

# Modules whose import registers handlers.
HANDLER_MODULES = ("kagglekit.sandbox.competitions", "kagglekit.sandbox.leaderboard", "kagglekit.sandbox.kernels",
                   "kagglekit.sandbox.kernel_queries", "kagglekit.sandbox.datasets", "kagglekit.sandbox.models",
                   "kagglekit.sandbox.reruns")


@dataclass(frozen=True)
class Route:
    """A registered handler and whether it needs a signed-in user."""

    handler: Callable[["Call"], Any]
    auth: bool = True


ROUTES: dict[tuple[str, str], Route] = {}


def route(service: str, method: str, auth: bool = True):
    """Register the decorated function as the handler of SERVICE/METHOD."""

    def register(fn):
        ROUTES[(service, method)] = Route(fn, auth)
        return fn

    return register


@dataclass(frozen=True)
class Download:
    """A file a GET serves: its path, and the identity (ETag, Last-Modified) a resumed download checks."""

    path: Path
    etag: str
    last_modified: str  # an HTTP date
    content_type: str = "application/octet-stream"


# GET path pattern -> handler(sandbox, match) returning a Download, or None for a 404.
DOWNLOADS: list[tuple[re.Pattern, Callable[[Any, re.Match], "Download | None"]]] = []


def download(pattern: str):
    """Register the decorated function as the server of GET paths that fully match PATTERN."""

    def register(fn):
        DOWNLOADS.append((re.compile(pattern), fn))
        return fn

    return register


def not_served(service: str, method: str) -> "ApiError":
    """The answer to a call no handler serves, naming the sandbox and the method."""
    return ApiError(NOT_SERVED_STATUS, f"not served by kagglekit sandbox: {method} ({service}); "
                                       "see docs/sandbox.md for the calls it serves")


def load_routes() -> dict[tuple[str, str], Route]:
    """Import every handler module once, so that ROUTES is complete."""
    for name in HANDLER_MODULES:
        importlib.import_module(name)
    return ROUTES


@dataclass(frozen=True)
class Call:
    """One API call as a handler sees it."""

    sandbox: Any  # the running Sandbox: its store, bundles and settings
    user: str | None  # the signed-in user name (None for calls that need no auth)
    body: dict
    base_url: str  # where the client reached us, for URLs it will follow (downloads, uploads)


@dataclass(frozen=True)
class Redirect:
    """Answer 302 to URL, as Kaggle does for file downloads."""

    url: str


class ApiError(Exception):
    """An error answer: HTTP STATUS with Kaggle's JSON body {"code": STATUS, "message": MESSAGE}."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message
