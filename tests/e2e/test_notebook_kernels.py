"""Notebook kernels executed as Kaggle executes them: the built .ipynb run cell by cell with nbclient and a
Python kernel (ipykernel), in a Kaggle-like layout (the input read-only, the roots moved with the
KAGGLEKIT_KAGGLE_* names); then its output mounted as the input of an inference notebook."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nbformat
import pandas as pd
from kernel_fixtures import DEMO, build, read_only, snapshot
from nbclient import NotebookClient


def demo_layout(root: Path) -> Path:
    from kagglekit.competition.demo import write_demo_competition

    write_demo_competition(root / "input" / DEMO)
    (root / "working").mkdir()
    return root


def execute(notebook: Path, root: Path, cache: Path, monkeypatch) -> nbformat.NotebookNode:
    """NOTEBOOK executed in a Python kernel whose roots are moved into ROOT; returns the executed notebook."""
    for name, value in {"KAGGLE_KERNEL_RUN_TYPE": "Batch", "KAGGLEKIT_KAGGLE_INPUT": str(root / "input"),
                        "KAGGLEKIT_KAGGLE_WORKING": str(root / "working"), "KAGGLEKIT_KERNEL_TMP": str(root / "tmp"),
                        "KAGGLEKIT_CACHE": str(cache), "TF_CPP_MIN_LOG_LEVEL": "2"}.items():
        monkeypatch.setenv(name, value)  # the kernel process inherits them
    monkeypatch.delenv("PYTHONPATH", raising=False)  # only the kagglekit the notebook carries
    nb = nbformat.read(notebook, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(root / "working")}}).execute()
    return nb


def outputs_of(cell) -> list[str]:
    return [kind for out in cell.outputs for kind in (out.get("data") or {"stream": ""})]


def test_a_notebook_kernel_trains_predicts_and_shows_its_figures(cli, kernel_env, kernel_cache, monkeypatch):
    folder, _ = build(cli, "digits-nb", "--owner", "kaggler", "--notebook")
    session = demo_layout(kernel_env / "session")
    read_only(session / "input")
    before = snapshot(session / "input")

    nb = execute(folder / "digits-nb.ipynb", session, kernel_cache, monkeypatch)
    working = session / "working"
    assert snapshot(session / "input") == before
    setup, train, predict, figures = nb.cells[1:]
    logged = "".join(o.get("text", "") for c in nb.cells[1:] for o in c.outputs if o.output_type == "stream")
    assert f"(from {session / 'tmp'}/kagglekit-src-" in logged  # its own copy of kagglekit, not the installed one
    assert "fold 2/2" in "".join(o.get("text", "") for o in train.outputs)
    submission = pd.read_csv(working / "submission.csv")
    assert len(submission) == len(pd.read_csv(session / "input" / DEMO / "sample_submission.csv"))
    for name in ("config.json", "oof.csv", "scores.json", "kernel.json", "fold_0/best.keras", "fold_1/result.json"):
        assert (working / name).is_file(), name
    shown = outputs_of(figures)
    assert shown.count("image/png") == len(list((working / "report").glob("*.png"))) >= 4
    for name in ("history", "confusion", "roc"):
        assert (working / "report" / f"{name}.png").is_file()
        assert any(f"**{name}**" in "".join(o.get("data", {}).get("text/markdown", "")) for o in figures.outputs)

    # The trained folds as an inference notebook's input: it predicts and shows their figures, trains nothing.
    code, out, err = cli("kernel", "build", "-c", DEMO, "--owner", "kaggler", "--notebook", "--name", "digits-nb-infer",
                         "--predict-from", "kernel:kaggler/digits-nb", "--tta", "1")
    assert code == 0, err
    second = demo_layout(kernel_env / "session2")
    shutil.copytree(working, second / "input" / "digits-nb", ignore=shutil.ignore_patterns("report"))
    read_only(second / "input")
    nb = execute(Path("kernels") / "digits-nb-infer" / "digits-nb-infer.ipynb", second, kernel_cache, monkeypatch)
    assert len(nb.cells) == 4  # description, set-up, prediction, figures
    assert pd.read_csv(second / "working" / "submission.csv").equals(submission)
    assert not list((second / "working").glob("fold_*"))
    assert outputs_of(nb.cells[3]).count("image/png") >= 4
    assert os.path.isdir(second / "working" / "report")
