"""A kernel's source: one set of pieces (what it does, the carried kagglekit, its steps), as a script or a notebook.

``kernel_source`` builds the pieces once from a ``KernelSpec``; ``render_script`` and ``render_notebook``
lay them out. Both carry kagglekit and the competition definition as a base64 zip (``kernels.package``),
unpack it in their set-up and call the steps of ``kernels.entry``: a script in one ``__main__`` block, a
notebook one cell per step, plus a cell that shows the report's figures inline. The notebook is written
with the json module (nbformat 4.4, the form Kaggle stores); the tests validate it with nbformat.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import pprint
from dataclasses import dataclass

from kagglekit.core.kaggle_paths import INPUT_ENV, KERNEL_TMP_ENV, WORKING_ENV
from kagglekit.core.version import __version__
from kagglekit.kernels.accelerators import session_limit
from kagglekit.kernels.package import package_zip
from kagglekit.kernels.spec import KernelSpec


def kernel_options(spec: KernelSpec) -> dict:
    """What the kernel runs with: the competition, the resolved settings and what to do after training."""
    return {
        "competition": spec.competition.slug,
        "config": dataclasses.asdict(spec.config),
        "predict": spec.predict,
        "resume_from": [s.split("/")[1] for s in spec.kernel_sources],
        "session_seconds": session_limit(spec.gpu),
        "kagglekit": __version__,
        "kernel": spec.id,
    }


def predict_options(spec: KernelSpec) -> dict:
    """What an inference kernel runs with, besides kernel_options: its source of folds and its time limit."""
    if not spec.predict_from:
        return {}
    return {"predict_from": {"kind": spec.predict_from_kind, "ref": spec.predict_from},
            "time_limit": spec.competition.time_limit_seconds or kernel_options(spec)["session_seconds"]}


TRAINING = """\
{title}: a kagglekit kernel for the {slug} competition.

Built by kagglekit {version}. This {form} carries kagglekit's source and the
competition definition (the zip in its set-up), so it needs no pip install and no
internet. It reads the competition from /kaggle/input/{slug}/ (never writing
there), trains {what} and writes the run folder (fold models, OOF
predictions, scores, logs{and_submission}) to /kaggle/working. Finished folds in
/kaggle/working or in an earlier version's output (kernel_sources) are kept:
a rerun resumes instead of starting over.
"""

INFERENCE = """\
{title}: a kagglekit inference kernel for the {slug} competition.

Built by kagglekit {version}. This {form} carries kagglekit's source and the
competition definition (the zip in its set-up), so it needs no pip install and no
internet. It trains nothing: it predicts with the finished folds of {source}
(a {kind} attached as an input, mounted under /kaggle/input), on the test
images and sample submission it finds in /kaggle/input/{slug}/ when it runs
(on a code competition's rerun, the hidden ones), with as many test-time
views as fit well inside the time limit, and writes /kaggle/working/submission.csv
once it matches that sample submission.
"""

ROOTS = f"""
{INPUT_ENV} and {WORKING_ENV} move the two roots (for
running it outside Kaggle, e.g. in tests).
"""

CARRIED = '''\
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
        except OSError:  # another copy of the kernel got there first
            pass
    if root not in sys.path:
        sys.path.insert(0, root)
    return root
'''

# (title, code, shown in the script too): the steps of kernels.entry, in the order a session runs them.
SET_UP = ("Set-up: unpack the kagglekit this kernel carries", """\
source = _unpack_source()
from kagglekit.kernels import entry  # the carried copy: first on sys.path now

session = entry.start(OPTIONS, source + "/competition.toml")""", True)
TRAIN = ("Training", "entry.step(entry.train, session)", True)
PREDICT = ("Prediction: submission.csv", "entry.step(entry.predict, session)", True)
FIGURES = ("The report's figures: history, scores, confusion matrix, ROC", """\
from IPython.display import Image, Markdown, display

for png in entry.figures(session):
    display(Markdown(f"**{png.stem}**"), Image(filename=str(png)))""", False)


@dataclass(frozen=True)
class KernelSource:
    """A kernel's source before it is laid out as a script or a notebook."""

    description: str  # what the kernel does, in prose: the script's docstring, the notebook's first cell
    carried: str  # OPTIONS, the payload and _unpack_source: what every step needs defined first
    steps: tuple[tuple[str, str, bool], ...]  # (title, code, in the script too) of each step, in order


def kernel_source(spec: KernelSpec) -> KernelSource:
    """The pieces of SPEC's kernel, the same for both forms."""
    payload = package_zip(spec.competition)
    encoded = base64.b64encode(payload).decode()
    words = {"title": spec.name, "slug": spec.competition.slug, "version": __version__,
             "form": "notebook" if spec.notebook else "file"}
    if spec.predict_from:
        description = INFERENCE.format(**words, source=spec.predict_from, kind=spec.predict_from_kind)
        steps = (SET_UP, PREDICT, FIGURES)
    else:
        what = f"fold {spec.config.fold}" if spec.config.fold is not None else f"{spec.config.folds} folds"
        description = TRAINING.format(**words, what=what, and_submission=", submission.csv" if spec.predict else "")
        steps = (SET_UP, TRAIN, PREDICT, FIGURES)
    carried = CARRIED.format(
        options=pprint.pformat({**kernel_options(spec), **predict_options(spec)}, sort_dicts=False),
        digest=hashlib.sha1(payload).hexdigest(), kernel_tmp_env=KERNEL_TMP_ENV,
        payload="\n".join(encoded[i:i + 100] for i in range(0, len(encoded), 100)))
    return KernelSource(description + ROOTS, carried, steps)


def render_script(source: KernelSource) -> str:
    """The kernel as one Python file: the description as its docstring, the steps in its __main__ block."""
    body = "\n".join(f"    # {title}\n" + "".join(f"    {line}\n" if line else "\n" for line in code.split("\n"))
                     for title, code, in_script in source.steps if in_script)
    return f'"""{source.description}"""\n\n{source.carried}\n\nif __name__ == "__main__":\n{body}'


def render_notebook(source: KernelSource) -> str:
    """The kernel as an .ipynb: the description, then one code cell per step (the set-up defines the carried
    source first), the last one showing the report's figures."""
    def lines(text: str) -> list[str]:
        return text.splitlines(keepends=True)

    cells = [{"cell_type": "markdown", "metadata": {}, "source": lines(source.description)}]
    for i, (title, code, _) in enumerate(source.steps):
        text = f"# {title}\n" + (source.carried + "\n\n" if i == 0 else "") + code
        cells.append({"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                      "source": lines(text)})
    notebook = {"cells": cells, "nbformat": 4, "nbformat_minor": 4,
                "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                             "language_info": {"name": "python"}}}
    return json.dumps(notebook, indent=1) + "\n"


def kernel_code(spec: KernelSpec) -> str:
    """The text of SPEC's code file: a notebook's JSON or a script's Python."""
    source = kernel_source(spec)
    return render_notebook(source) if spec.notebook else render_script(source)
