"""The soak in short (20 submits, 5 fetches, 2 kill -9s): a sandbox on loopback, the stock client, real training."""

import re
import subprocess
import sys


def count(table: str, name: str) -> int:
    found = re.search(rf"{re.escape(name)}\s*\W\s*(\d+)", table)
    return int(found.group(1)) if found else 0


def test_a_short_soak_ends_with_every_submission_once_every_file_whole_and_every_resume_valid(tmp_path):
    done = subprocess.run([sys.executable, "-m", "kagglekit", "soak", "--submits", "20", "--fetches", "5",
                           "--kills", "2", "--seed", "7", "--time-limit", "900"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=1200)
    assert done.returncode == 0, done.stdout + done.stderr
    table = done.stdout
    assert count(table, "submits: asked for") == 20
    assert count(table, "submits: on the server") == 20 and "submits: doubled" in table
    assert count(table, "submits: doubled") == 0 and count(table, "problems") == 0
    assert count(table, "submits: sent by two processes at once") == 2
    assert count(table, "kills: train resumed to a valid submission") == 1
    assert count(table, "kills: kernel output resumed to a valid submission") == 1
