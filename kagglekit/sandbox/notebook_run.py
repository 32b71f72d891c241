"""Runs a pushed notebook inside a sandbox session, as Kaggle runs a notebook kernel: every cell in a real Jupyter kernel.

Started by kagglekit.sandbox.sessions as ``python notebook_run.py NOTEBOOK EXECUTED [--offline]`` inside the
session's box, so the Jupyter kernel it starts (ipykernel, through nbclient) has the session's environment,
folders and confinement. The cells' output goes to this process's stdout and stderr as it arrives, which is
what the session's log records; the executed notebook, outputs included, is written to EXECUTED (Kaggle's
``__notebook__.ipynb`` in the version's output) even when a cell fails. A failed cell ends the run with its
traceback and, last, ``ErrorName: message`` (the version's failure message) and exit code 1. With
``--offline`` the kernel's sockets refuse to connect before the first cell runs (enable_internet false).
It imports nothing of kagglekit: the session's Python may not have it.
"""

from __future__ import annotations

import re
import sys

OFFLINE = """import socket
def _offline(*args, **kwargs):
    raise OSError("network access is disabled in this kernel (enable_internet is false)")
socket.socket.connect = socket.socket.connect_ex = _offline
socket.create_connection = _offline
del _offline"""
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _echo(msg: dict) -> None:
    """Write one output message of a cell to this process's stdout or stderr, as the kernel produced it."""
    kind, content = msg["msg_type"], msg["content"]
    if kind == "stream":
        stream = sys.stderr if content.get("name") == "stderr" else sys.stdout
        stream.write(content.get("text", ""))
        stream.flush()
    elif kind in ("execute_result", "display_data") and "text/plain" in content.get("data", {}):
        print(content["data"]["text/plain"], flush=True)


def run(source: str, executed: str, offline: bool) -> int:
    """Execute notebook SOURCE cell by cell, write it with its outputs to EXECUTED; 0, or 1 when a cell failed."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    class EchoingClient(NotebookClient):
        def output(self, outs, msg, display_id, cell_index):
            _echo(msg)
            return super().output(outs, msg, display_id, cell_index)

    notebook = nbformat.read(source, as_version=4)
    setup = ["--IPKernelApp.log_level=ERROR"] + ([f"--IPKernelApp.exec_lines={[OFFLINE]!r}"] if offline else [])
    client = EchoingClient(notebook, timeout=None, kernel_name="python3", extra_arguments=setup,
                           resources={"metadata": {"path": "."}})
    try:
        client.execute()
        return 0
    except CellExecutionError as err:
        print(ANSI.sub("", err.traceback), file=sys.stderr)
        print(f"{err.ename}: {err.evalue}", file=sys.stderr, flush=True)
        return 1
    finally:
        nbformat.write(notebook, executed)


if __name__ == "__main__":
    sys.exit(run(sys.argv[1], sys.argv[2], "--offline" in sys.argv[3:]))
