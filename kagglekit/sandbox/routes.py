"""The sandbox's dispatch table: one handler per (service, method) of Kaggle's API.

The kaggle client sends every call as ``POST /api/v1/{service}/{Method}`` with
a JSON body. The server looks the pair up in ROUTES and calls the handler with
a Call. A handler parses the body with the kagglesdk request type and returns
the kagglesdk response object (serialized with the type's own ``to_dict``, so
the JSON is exactly what the client expects), a Redirect, or None; it raises
ApiError for an HTTP error.

Competition calls live in ``kagglekit.sandbox.competitions``. Kernel calls
(``kernels.KernelsApiService``: SaveKernel, GetKernelSessionStatus,
ListKernelSessionOutput, DownloadKernelOutput) belong in a module of their own
that registers its handlers with ``@route`` and is added to HANDLER_MODULES.
Datasets and their uploads live in ``kagglekit.sandbox.datasets``, code
submissions and their reruns in ``kagglekit.sandbox.reruns``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

COMPETITIONS = "competitions.CompetitionApiService"
KERNELS = "kernels.KernelsApiService"
OAUTH = "security.OAuthService"
DATASETS = "datasets.DatasetApiService"
BLOBS = "blobs.BlobApiService"

# Modules whose import registers handlers; add the kernels module here.
HANDLER_MODULES = ("kagglekit.sandbox.competitions", "kagglekit.sandbox.kernels", "kagglekit.sandbox.datasets",
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
