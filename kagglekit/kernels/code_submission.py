"""Code competitions: submit a kernel version and follow Kaggle's rerun of it to a score.

A code competition takes no file: it takes a kernel version (the client's
``competition_submit_code``, CreateCodeSubmission), reruns it on the hidden
test set with the internet off and a time limit, and scores the file the
rerun writes. The call goes through kaggle.in_flight.send_once, so a lost answer is
adopted instead of submitted again (each copy would cost a submission of the
day). Kaggle names a failed rerun in four words or so (RERUN_HINTS); kagglekit
adds what to do about it.
"""

from __future__ import annotations

from kagglekit.competition.definition import Competition
from kagglekit.core.errors import KagglekitError
from kagglekit.core.refs import parse_ref
from kagglekit.kaggle.in_flight import InFlight, send_once
from kagglekit.kaggle.remote import RetryPolicy, connect
from kagglekit.kaggle.submit import SubmitResult, wait_for_score

DEFAULT_FILE = "submission.csv"

# Kaggle's reasons for a failed rerun, and what they mean for a kagglekit inference kernel.
RERUN_HINTS = {
    "Submission CSV Not Found": "the rerun wrote no such file to /kaggle/working; check --file against the file "
                                "the kernel writes (a kagglekit inference kernel writes submission.csv)",
    "Notebook Timeout": "the rerun ran past the competition's time limit on the hidden test set; use fewer "
                        "test-time views (--tta) or folds, or a GPU",
    "Notebook Threw Exception": "the kernel failed on the hidden test set; run it again on the public one and "
                                "read its log ('kagglekit kernel output')",
    "Submission Scoring Error": "the file's rows or columns do not match the hidden sample submission (a kernel "
                                "must read the test images at run time, never a cached list)",
}


def submit_kernel(comp: Competition, kernel_id: str, message: str, version: int | None = None,
                  file_name: str = DEFAULT_FILE, wait: bool = False, retry: RetryPolicy | None = None,
                  timeout: float | None = None) -> SubmitResult:
    """Submit version VERSION of KERNEL_ID (default: the one its last `kernel push` recorded); with WAIT, its score."""
    from kagglekit.kernels.remote import pushed_version

    if not message.strip():
        raise KagglekitError("the submission message is empty; describe the submission with -m '...'")
    if version is not None and version < 1:
        raise KagglekitError(f"--version {version} is not a kernel version; versions count from 1")
    parse_ref(kernel_id, "kernel", "--kernel", f"kaggler/{comp.slug}-predict", form="OWNER/KERNEL")
    version = version or pushed_version(kernel_id)
    policy = retry or RetryPolicy.from_env()
    api = connect()
    flight = InFlight(comp.slug, f"{kernel_id}@{version}", message, file_name)

    def send():
        return api.competition_submit_code(file_name, message, comp.slug, kernel=kernel_id, kernel_version=version,
                                           quiet=True)

    def not_found(why: str) -> str:  # the competition answered the listing calls before: the kernel is missing
        return (f"Kaggle has no version {version} of the kernel {kernel_id} (404: {why}); check --kernel and "
                "--version (a version number comes from 'kagglekit kernel push')")

    answer = send_once(api, comp, flight, send, policy, not_found=not_found)
    result = SubmitResult(answer.ref, _kernel_file(kernel_id, version, file_name), "pending", message=answer.message)
    if wait:
        try:
            # The rerun may take the whole time limit, and waits in Kaggle's queue before it starts.
            limit = timeout or (comp.time_limit_seconds or 12 * 3600) + 3600
            result = wait_for_score(api, comp, result, policy, limit, first_pause=1.0)
        except KagglekitError as exc:
            hint = next((h for name, h in RERUN_HINTS.items() if name in str(exc)), None)
            raise KagglekitError(f"{exc} ({hint})" if hint else str(exc)) from None
    return result


def _kernel_file(kernel_id: str, version: int, file_name: str):
    """How the submitted file is named where a path would stand: the kernel version's output."""
    from pathlib import PurePosixPath

    return PurePosixPath(f"{kernel_id}@{version}") / file_name
