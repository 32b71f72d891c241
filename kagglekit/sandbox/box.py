"""What a kernel session can reach: its inputs placed as hard links, and its process confined where Linux allows.

Inputs are hard links to the published files (copies where a link cannot be made, e.g. across file
systems), never symlinks: a symlink tells the kernel where the bundle lives, beside its sealed solution.

Where unprivileged user namespaces work (checked once, at run time, with ``unshare``), a session runs in
namespaces of its own: a PID namespace with its own /proc (no view of the sandbox's process, its command
line or its environment), and a mount namespace in which the sandbox's state, caches, bundle folders, the
other sessions, /tmp and the user's ~/.kaggle are covered by empty tmpfs mounts, the session's box is
mounted back in place and its input/ is read-only. The kernel then runs in a second, nested user and mount
namespace, where those mounts are locked: even as root there it cannot unmount them. Elsewhere the sandbox
logs once that sessions are isolated by paths only.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import subprocess
from pathlib import Path

log = logging.getLogger("kagglekit.sandbox")

UNSHARE = ("unshare", "--user", "--map-root-user", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc")

# Runs inside the outer namespaces (as their root): cover, mount back, make input/ read-only, then run the
# kernel in a nested user and mount namespace (which locks those mounts). Standard library only.
LAUNCH = """
import json, os, subprocess, sys
spec = json.loads(sys.argv[1])
def mount(*args, fds=()):
    subprocess.run(["mount", *args], check=True, pass_fds=fds)
for path in spec["read_only"]:
    mount("--bind", path, path)
    mount("-o", "remount,bind,ro", path)
kept = [(path, os.open(path, os.O_RDONLY | os.O_DIRECTORY)) for path in spec["keep"]]
for path in spec["hide"]:
    if os.path.isdir(path):
        mount("-t", "tmpfs", "-o", "mode=755,size=1m", "kagglekit-hidden", path)
for path, fd in kept:
    os.makedirs(path, exist_ok=True)
    mount("--no-canonicalize", "--rbind", f"/proc/self/fd/{fd}", path, fds=(fd,))
    os.close(fd)
os.chdir(spec["cwd"])
os.execvp("unshare", ["unshare", "--user", "--map-root-user", "--mount", "--", *spec["command"]])
"""


def link_file(source: Path, target: Path) -> None:
    """TARGET is a hard link to the file SOURCE points at (a copy where no link can be made)."""
    real = os.path.realpath(source)
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(real, target)
    except OSError:
        shutil.copy2(real, target)


def link_tree(source: Path, target: Path) -> None:
    """TARGET mirrors the folders of SOURCE, its files hard links to SOURCE's (how inputs are mounted)."""
    shutil.copytree(source, target, dirs_exist_ok=True, copy_function=link_file)


@functools.cache
def can_confine() -> bool:
    """Whether this machine runs a process in new user, mount and PID namespaces without privileges."""
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        ok = False
    else:
        try:
            ok = subprocess.run([*UNSHARE, "--", "mount", "-t", "tmpfs", "kagglekit-check", "/tmp"],
                                capture_output=True, timeout=30).returncode == 0
        except (OSError, subprocess.SubprocessError):
            ok = False
    if ok:
        log.info("kernel sessions run in user, mount and PID namespaces of their own")
    else:
        log.warning("no unprivileged user namespaces here: kernel sessions are isolated by paths only "
                    "(inputs are hard links, no sandbox path in their environment)")
    return ok


def confined(command: list[str], box: Path, cwd: Path, hide: list[Path], keep: list[Path],
             read_only: list[Path]) -> list[str]:
    """COMMAND run with HIDE covered, KEEP (the box first) mounted back and READ_ONLY read-only, in CWD; COMMAND
    itself when the machine cannot confine it."""
    if not can_confine():
        return command
    spec = {"hide": [str(p) for p in hide], "keep": [str(p) for p in [box, *keep]],
            "read_only": [str(p) for p in read_only], "cwd": str(cwd), "command": command}
    python = command[0]
    return [*UNSHARE, "--", python, "-c", LAUNCH, json.dumps(spec)]
