"""The kagglekit a kernel carries: its package and the competition definition as one zip, scanned for secrets.

A kernel is one source file, so kagglekit travels inside it. The zip is deterministic (fixed times and
modes: the same source gives the same script) and is refused when any file in it, or the script that
carries it, holds a Kaggle credential of this environment.
"""

from __future__ import annotations

import contextlib
import io
import os
import zipfile
from pathlib import Path

from kagglekit.competition.definition import Competition
from kagglekit.core.errors import KagglekitError
from kagglekit.kernels.metadata import offline_client

_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def package_zip(comp: Competition) -> bytes:
    """kagglekit's package (every module and shipped TOML) plus the competition definition, as a zip."""
    if comp.source is None:
        raise KagglekitError(f"competition {comp.slug} has no definition file to put in the kernel")
    root = Path(__file__).resolve().parents[1]  # the kagglekit package
    parts = {}  # the path each comes from -> (name in the zip, bytes)
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.suffix in (".py", ".toml") and "__pycache__" not in rel.parts:
            parts[str(path)] = (f"kagglekit/{rel.as_posix()}", path.read_bytes())
    parts[str(comp.source)] = ("competition.toml", Path(comp.source).read_bytes())
    # Packed files are base64 in the script, where a key would not show: check them as they are.
    refuse_secrets({where: data for where, (_, data) in parts.items()})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.values():
            zf.writestr(_entry(name), data)
    return buffer.getvalue()


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, _ZIP_TIME)  # a fixed time: the same source always gives the same script
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def _secrets() -> list[tuple[str, str]]:
    """(where it comes from, value) of every Kaggle credential this environment holds, read by the client's own code."""
    found = [(name, os.environ.get(name) or "") for name in ("KAGGLE_KEY", "KAGGLE_API_TOKEN")]
    with contextlib.suppress(Exception), contextlib.redirect_stdout(io.StringIO()):
        from kagglesdk.kaggle_env import get_access_token_from_env

        client = offline_client()
        found.append(("the key in kaggle.json", client.read_config_file(quiet=True).get("key") or ""))
        found.append(("the access token", get_access_token_from_env()[0] or ""))
    return [(name, value) for name, value in found if len(value) >= 8]


def refuse_secrets(parts: dict[str, bytes]) -> None:
    """Never write a kernel that contains the credentials of this environment, in any file it carries."""
    for where, data in parts.items():
        for name, value in _secrets():
            if value.encode() in data:
                raise KagglekitError(f"{where} holds the value of {name}; refusing to put it into a kernel "
                                     "(remove it from that file and build again)")
