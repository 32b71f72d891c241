"""The kernel's one source file: the template, the options it runs with, and the carried kagglekit.

The script unpacks the kagglekit it carries (``kernels.package``) and calls ``kernels.entry.main`` with the
options it was built with: a training kernel trains and predicts, an inference kernel only predicts.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import pprint

from kagglekit.core.kaggle_paths import INPUT_ENV, KERNEL_TMP_ENV, WORKING_ENV
from kagglekit.core.version import __version__
from kagglekit.kernels.accelerators import session_limit
from kagglekit.kernels.package import package_zip
from kagglekit.kernels.spec import KernelSpec


def kernel_options(spec: KernelSpec) -> dict:
    """What the script runs with: the competition, the resolved settings and what to do after training."""
    return {
        "competition": spec.competition.slug,
        "config": dataclasses.asdict(spec.config),
        "predict": spec.predict,
        "resume_from": [s.split("/")[1] for s in spec.kernel_sources],
        "session_seconds": session_limit(spec.gpu),
        "kagglekit": __version__,
        "kernel": spec.id,
    }


SCRIPT = '''\
"""{title}: a kagglekit kernel for the {slug} competition.

Built by kagglekit {version}. This one file carries kagglekit's source and the
competition definition (the zip below), so it needs no pip install and no
internet. It reads the competition from /kaggle/input/{slug}/ (never writing
there), trains {what} and writes the run folder (fold models, OOF
predictions, scores, logs{and_submission}) to /kaggle/working. Finished folds in
/kaggle/working or in an earlier version's output (kernel_sources) are kept:
a rerun resumes instead of starting over.

{input_env} and {working_env} move the two roots (for
running it outside Kaggle, e.g. in tests).
"""

OPTIONS = {options}

PAYLOAD_SHA1 = "{digest}"
PAYLOAD = """
{payload}
"""


def _unpack_source():
    """Extract the carried source once into a writable temporary folder and put it on sys.path."""
    import base64, io, os, sys, tempfile, zipfile

    root = os.path.join(os.environ.get("{kernel_tmp_env}") or tempfile.gettempdir(), "kagglekit-src-" + PAYLOAD_SHA1[:12])
    if not os.path.isdir(root):
        os.makedirs(os.path.dirname(root), exist_ok=True)
        partial = tempfile.mkdtemp(prefix=".kagglekit-src-", dir=os.path.dirname(root))
        zipfile.ZipFile(io.BytesIO(base64.b64decode(PAYLOAD))).extractall(partial)
        try:
            os.replace(partial, root)
        except OSError:  # another copy of the script got there first
            pass
    sys.path.insert(0, root)
    return root


if __name__ == "__main__":
    from pathlib import Path

    source = _unpack_source()
    from kagglekit.kernels.entry import main

    main(OPTIONS, Path(source) / "competition.toml")
'''


PREDICT_DOC = '''\
"""{title}: a kagglekit inference kernel for the {slug} competition.

Built by kagglekit {version}. This one file carries kagglekit's source and the
competition definition (the zip below), so it needs no pip install and no
internet. It trains nothing: it predicts with the finished folds of {source}
(a {kind} attached as an input, mounted under /kaggle/input), on the test
images and sample submission it finds in /kaggle/input/{slug}/ when it runs
(on a code competition's rerun, the hidden ones), with as many test-time
views as fit well inside the time limit, and writes /kaggle/working/submission.csv
once it matches that sample submission.

{input_env} and {working_env} move the two roots (for
running it outside Kaggle, e.g. in tests).
"""
'''


# The environment names that move a kernel's roots outside Kaggle, as the scripts spell them.
_ROOT_NAMES = {"input_env": INPUT_ENV, "working_env": WORKING_ENV, "kernel_tmp_env": KERNEL_TMP_ENV}


def predict_options(spec: KernelSpec) -> dict:
    """What an inference kernel runs with, besides kernel_options: its source of folds and its time limit."""
    if not spec.predict_from:
        return {}
    return {"predict_from": {"kind": spec.predict_from_kind, "ref": spec.predict_from},
            "time_limit": spec.competition.time_limit_seconds or kernel_options(spec)["session_seconds"]}


def kernel_script(spec: KernelSpec) -> str:
    """The kernel's one source file."""
    if spec.predict_from:
        return _predict_script(spec)
    payload = package_zip(spec.competition)
    encoded = base64.b64encode(payload).decode()
    lines = "\n".join(encoded[i:i + 100] for i in range(0, len(encoded), 100))
    what = f"fold {spec.config.fold}" if spec.config.fold is not None else f"{spec.config.folds} folds"
    return SCRIPT.format(
        title=spec.name, slug=spec.competition.slug, version=__version__, what=what,
        and_submission=", submission.csv" if spec.predict else "",
        options=pprint.pformat(kernel_options(spec), sort_dicts=False), digest=hashlib.sha1(payload).hexdigest(), payload=lines,
        **_ROOT_NAMES)


def _predict_script(spec: KernelSpec) -> str:
    """An inference kernel's source file: the same script, with its options and what it does said."""
    payload = package_zip(spec.competition)
    encoded = base64.b64encode(payload).decode()
    lines = "\n".join(encoded[i:i + 100] for i in range(0, len(encoded), 100))
    options = {**kernel_options(spec), **predict_options(spec)}
    script = SCRIPT.format(
        title=spec.name, slug=spec.competition.slug, version=__version__, what="", and_submission="",
        options=pprint.pformat(options, sort_dicts=False), digest=hashlib.sha1(payload).hexdigest(), payload=lines, **_ROOT_NAMES)
    doc = PREDICT_DOC.format(**_ROOT_NAMES, title=spec.name, slug=spec.competition.slug, version=__version__,
                             source=spec.predict_from, kind=spec.predict_from_kind)
    return doc + script[script.index('"""', 3) + 4:]  # the training kernel's docstring, replaced
