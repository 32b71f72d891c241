"""Calls to Kaggle: one way to connect, time out, retry and explain a failure, for every call kagglekit makes.

Fetch, submit, kernels and datasets all go through the official client's
KaggleApi (``connect``), and every call through ``call``:
- every API call the client sends (authenticate's check of an access token
  included) and every download gets a connect timeout and a read timeout (the
  longest wait for the next bytes of an answer, so a long download is fine
  while a stalled one is not): KAGGLEKIT_HTTP_TIMEOUT seconds, 60 by default,
  set on the client's own sessions and options, never on `requests` for the
  whole process (the upload the client sends on a session of its own has no
  timeout setting, and keeps the client's);
- a call that fails transiently (a 5xx or 429 answer, a refused or dropped
  connection, a timeout, a download cut off partway, an upload the client
  reports failed) is tried again after 1, 2, 4 ... seconds
  (KAGGLEKIT_HTTP_BACKOFF), KAGGLEKIT_HTTP_ATTEMPTS times in all (5);
- what is left is one KagglekitError that says what to do.
The client prints to stdout and sometimes calls exit(); neither reaches the user.
Credentials stay inside the client: nothing here reads, prints or logs them.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

from kagglekit.core.environment import changed_environment
from kagglekit.core.errors import KagglekitError

log = logging.getLogger("kagglekit")
T = TypeVar("T")

REACH_HINT = "check the network (or that 'kagglekit sandbox' is running and its environment is exported) and run again"


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait for Kaggle, and how often to try again."""

    attempts: int = 5
    backoff: float = 1.0  # seconds before the second try, doubled before each next one (at most 30)
    timeout: float = 60.0  # seconds to connect, and to wait for the next bytes of an answer

    @classmethod
    def from_env(cls) -> "RetryPolicy":
        """Defaults, or KAGGLEKIT_HTTP_ATTEMPTS, KAGGLEKIT_HTTP_BACKOFF and KAGGLEKIT_HTTP_TIMEOUT (seconds)."""
        try:
            policy = cls(int(os.environ.get("KAGGLEKIT_HTTP_ATTEMPTS", cls.attempts)),
                         float(os.environ.get("KAGGLEKIT_HTTP_BACKOFF", cls.backoff)),
                         float(os.environ.get("KAGGLEKIT_HTTP_TIMEOUT", cls.timeout)))
        except ValueError:
            raise KagglekitError("KAGGLEKIT_HTTP_ATTEMPTS must be a whole number, KAGGLEKIT_HTTP_BACKOFF and "
                                 "KAGGLEKIT_HTTP_TIMEOUT numbers of seconds; fix or unset them") from None
        if policy.attempts < 1 or policy.backoff < 0 or policy.timeout <= 0:
            raise KagglekitError("KAGGLEKIT_HTTP_ATTEMPTS must be at least 1, KAGGLEKIT_HTTP_BACKOFF at least 0 "
                                 "and KAGGLEKIT_HTTP_TIMEOUT above 0")
        return policy

    def pause(self, attempt: int) -> float:
        """Seconds to wait after failed try ATTEMPT (1-based)."""
        return min(self.backoff * 2 ** (attempt - 1), 30.0)


class UploadFailed(Exception):
    """The client reported a failed upload by its return value: worth another try."""


# -- connecting ----------------------------------------------------------------

NO_CREDENTIALS = ("no Kaggle credentials found; download kaggle.json from https://www.kaggle.com/settings "
                  "('Create New Token') into {folder} (chmod 600), or set KAGGLE_USERNAME and KAGGLE_KEY "
                  "(or KAGGLE_API_TOKEN)")


def connect(policy: RetryPolicy | None = None):
    """An authenticated KaggleApi whose every HTTP request times out, or a KagglekitError saying where credentials go.

    authenticate() can itself go to the network (an access token in KAGGLE_API_TOKEN is checked with
    Kaggle), so it runs through ``call`` like any other call: a silent server is one line, not a traceback.
    """
    policy = policy or RetryPolicy.from_env()
    output = io.StringIO()
    # The client prints a page of auth help on import and before exit(1); keep both off the user's screen.
    with contextlib.redirect_stdout(output):
        KaggleApi = client_class()
        api = KaggleApi()
    # VERBOSE=1 makes the client dump request headers, Authorization included: never let it.
    api.args = [a for a in api.args if a not in ("--verbose", "-v")]
    with_timeouts(api, policy.timeout)

    def authenticate():
        try:
            with contextlib.redirect_stdout(output):
                api.authenticate()
        except SystemExit:
            raise KagglekitError(NO_CREDENTIALS.format(folder=KaggleApi.config_dir)) from None

    call(authenticate, "check your Kaggle credentials", policy)
    if "readable by other users" in output.getvalue():
        log.warning("%s is readable by other users; run 'chmod 600 %s'", api.config, api.config)
    return api


def client_class():
    """The client's KaggleApi class, imported without the network call that importing its package makes.

    ``import kaggle`` authenticates a KaggleApi of its own, with no timeout: an access token (or OAuth
    credentials) is checked with the server, and a server that never answers hangs the import. For the
    moment of the first import, the places a token is read from are hidden (KAGGLE_API_TOKEN, and the
    ~/.kaggle folder's access_token and OAuth credentials, by another HOME with the config folder pinned
    to ~/.kaggle where the client would have used it), so that import-time check stays off the network;
    ``connect`` then authenticates through ``call``.
    """
    import sys
    import tempfile

    module = sys.modules.get("kaggle.api.kaggle_api_extended")
    if module is not None:
        return module.KaggleApi
    hidden: dict[str, str | None] = {"KAGGLE_API_TOKEN": "", "KAGGLE_API_V1_TOKEN_PATH": None}
    dot_kaggle = os.path.join(os.path.expanduser("~"), ".kaggle")
    if os.environ.get("KAGGLE_CONFIG_DIR") or os.path.isdir(dot_kaggle):  # else no token file can be found
        hidden["KAGGLE_CONFIG_DIR"] = os.environ.get("KAGGLE_CONFIG_DIR") or dot_kaggle
    with tempfile.TemporaryDirectory(prefix="kagglekit-no-home-") as home:
        if "KAGGLE_CONFIG_DIR" in hidden:
            hidden["HOME"] = home
        with changed_environment(hidden):
            from kaggle.api.kaggle_api_extended import KaggleApi
    return KaggleApi


def with_timeouts(api, seconds: float) -> None:
    """Make every API call of API (the clients it builds, authenticate's included) wait at most SECONDS to
    connect and per read.

    The client sends its API calls through a requests.Session of its own without a timeout (a server that
    accepts the connection and never answers would hang the command forever) and has no setting for it, so
    each session it builds for API gets an adapter that fills the timeout in. Only this KaggleApi is touched:
    nothing else in the process that uses `requests` changes. Downloads take the timeout as the client's
    own ``download_file(timeout=...)`` option (see ``download_timeout``).
    """
    import requests.adapters

    class TimeoutAdapter(requests.adapters.HTTPAdapter):
        def send(self, request, stream=False, timeout=None, **kwargs):
            return super().send(request, stream=stream, timeout=timeout or (seconds, seconds), **kwargs)

    build = api.build_kaggle_client

    def build_with_timeouts():
        client = build()
        http = client.http_client()
        http._init_session()  # the client opens its session lazily; open it now to mount the adapter
        for prefix in ("http://", "https://"):
            http._session.mount(prefix, TimeoutAdapter())
        return client

    api.build_kaggle_client = build_with_timeouts


def download_timeout() -> float:
    """Seconds a download may wait to connect and for its next bytes (KAGGLEKIT_HTTP_TIMEOUT): the value to
    pass as the client's ``download_file(timeout=...)`` and with a direct ``requests.get`` of a signed URL."""
    return RetryPolicy.from_env().timeout


# -- classifying failures ----------------------------------------------------------

def status_of(exc: BaseException) -> int | None:
    """The HTTP status of an error answer, if EXC carries one."""
    return getattr(getattr(exc, "response", None), "status_code", None)


def is_cut_off(exc: BaseException) -> bool:
    """True for a transfer that broke partway (as opposed to one that never connected)."""
    import requests
    from urllib3.exceptions import ProtocolError

    if isinstance(exc, ValueError) and str(exc).startswith("Downloaded file size"):
        return True
    return isinstance(exc, (requests.exceptions.ChunkedEncodingError, ProtocolError))


def is_timeout(exc: BaseException) -> bool:
    """True when Kaggle did not answer (or stopped answering) within the timeout."""
    import requests
    from urllib3.exceptions import TimeoutError as Urllib3Timeout

    return isinstance(exc, (requests.Timeout, Urllib3Timeout, TimeoutError)) or (
        isinstance(exc, requests.ConnectionError) and "timed out" in str(exc).lower())


def is_transient(exc: BaseException) -> bool:
    """Server failures, rate limits, lost connections and timeouts: worth trying again."""
    import requests

    if isinstance(exc, requests.HTTPError):
        status = status_of(exc)
        return status is not None and (status >= 500 or status == 429)
    return isinstance(exc, (requests.ConnectionError, UploadFailed)) or is_timeout(exc) or is_cut_off(exc)


def reason(exc: BaseException, timeout: float | None = None) -> str:
    """The server's message (or the error's first words), short and on one line."""
    text = ""
    response = getattr(exc, "response", None)
    if response is not None:
        with contextlib.suppress(Exception):
            text = response.json().get("message", "")
    if not text and is_timeout(exc):
        return f"no answer within {timeout:g} s" if timeout else "no answer in time"
    if not text and is_cut_off(exc):
        return "connection broken partway"
    text = text or str(exc) or type(exc).__name__
    if "refused" in text.lower() and response is None:
        return "connection refused"
    return " ".join(text.split())[:200]


# -- calling -------------------------------------------------------------------

@dataclass(frozen=True)
class Hints:
    """What to tell the user for failures whose meaning depends on the call (the rest is the same for all)."""

    # HTTP status -> (Kaggle's reason -> the whole message), e.g. a 403 that means "accept the rules at ..."
    by_status: dict[int, Callable[[str], str]] | None = None
    # (tries, reason) -> the message for a download that broke or stalled partway, or None when nothing arrived
    cut_off: Callable[[int, str], str | None] | None = None


def call(fn: Callable[[], T], what: str, policy: RetryPolicy | None = None, hints: Hints | None = None) -> T:
    """FN() (a call through the kaggle client), tried again while it fails transiently, explained when it fails."""
    policy = policy or RetryPolicy.from_env()
    for attempt in range(1, policy.attempts + 1):
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # the client's chatter is not for the user
                return fn()
        except KagglekitError:
            raise
        except SystemExit as exc:  # some client methods print and exit() instead of raising
            raise KagglekitError(f"the kaggle client stopped while trying to {what} (exit code {exc.code}); "
                                 "run again, or try the same with the kaggle CLI") from None
        except Exception as exc:
            if not is_transient(exc) or attempt == policy.attempts:
                error = explain(exc, what, attempt, policy, hints or Hints())
                # Retries ran out on a failure that may have happened after Kaggle did the work (a lost answer).
                error.unanswered = is_transient(exc)
                raise error from None
            pause = policy.pause(attempt)
            log.warning("could not %s (%s); trying again in %.1f s (%d of %d)",
                        what, reason(exc, policy.timeout), pause, attempt + 1, policy.attempts)
            time.sleep(pause)
    raise AssertionError("unreachable")


def explain(exc: BaseException, what: str, tries: int, policy: RetryPolicy, hints: Hints) -> BaseException:
    """The KagglekitError a user reads for EXC; unknown exceptions (bugs) are returned unchanged."""
    import requests

    status, why = status_of(exc), reason(exc, policy.timeout)
    if isinstance(exc, requests.HTTPError) and status:
        if status == 401:
            return KagglekitError("Kaggle rejected your credentials (401); check the username and key in kaggle.json "
                                  "(or KAGGLE_USERNAME/KAGGLE_KEY), or create a new token at https://www.kaggle.com/settings")
        special = (hints.by_status or {}).get(status)
        if special:
            return KagglekitError(special(why))
        if is_transient(exc):
            return KagglekitError(f"Kaggle kept failing to {what} ({status}: {why}) after {tries} tries; try again later")
        return KagglekitError(f"Kaggle refused to {what} ({status}: {why})")
    said = hints.cut_off(tries, why) if hints.cut_off and (is_cut_off(exc) or is_timeout(exc)) else None
    if said:  # a download that got partway: what was received is kept
        return KagglekitError(said)
    if isinstance(exc, UploadFailed):
        return KagglekitError(f"the upload failed {tries} times when trying to {what}; try again later")
    if is_transient(exc):
        return KagglekitError(f"could not reach Kaggle to {what} after {tries} tries ({why}); {REACH_HINT}")
    if isinstance(exc, ValueError):  # the client's own checks (a kernel's metadata, a name)
        return KagglekitError(f"the kaggle client refused to {what}: {' '.join(str(exc).split())[:300]}")
    if isinstance(exc, OSError):
        return KagglekitError(f"could not {what}: {exc.strerror or exc} ({exc.filename}); "
                              "check free disk space and folder permissions")
    return exc
