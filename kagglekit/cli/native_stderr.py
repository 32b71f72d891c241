"""Keep TensorFlow's C++ start-up chatter (absl, oneDNN, CUDA probing) off the user's terminal.

TensorFlow's native code writes straight to file descriptor 2, before and
regardless of TF_CPP_MIN_LOG_LEVEL (a CPU-only machine prints "Could not find
cuda drivers" and "failed call to cuInit" on every start). The CLI moves
Python's own stderr to a copy of the terminal's descriptor and points
descriptor 2 at a pipe; a thread passes on every line except native log
lines. `kagglekit --verbose` or KAGGLEKIT_DEBUG=1 leaves stderr alone.
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import threading

# absl/glog lines ("I0000 00:00:17... file.cc:31] ...") and absl's notice about them.
NATIVE_LINE = re.compile(rb"^([IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w./-]+:\d+\]|WARNING: All log messages before absl"
                         rb"|To enable the following instructions: .* rebuild TensorFlow)")  # the 2nd line of one


def is_native_log_line(line: bytes) -> bool:
    """True for a line TensorFlow's C++ logging wrote."""
    return bool(NATIVE_LINE.match(line))


def filter_native_stderr() -> None:
    """Route descriptor 2 through a filter that drops native log lines; Python's stderr stays the terminal."""
    terminal = os.dup(2)
    sys.stderr.flush()
    sys.stderr = os.fdopen(terminal, "w", buffering=1, errors="backslashreplace")
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def pump():
        with os.fdopen(read_end, "rb") as pipe:
            for line in pipe:
                if not is_native_log_line(line):
                    os.write(terminal, line)

    thread = threading.Thread(target=pump, name="kagglekit-native-stderr", daemon=True)
    thread.start()

    def finish():  # close our end of the pipe so the thread sees the end, then let it drain
        os.dup2(terminal, 2)
        thread.join(timeout=2)

    atexit.register(finish)
