"""Notebook kernels (`kernel build --notebook`): the same kernel as the script, laid out one cell per step, its
metadata, its inference form, its fold kernels, and a push through the stock client. (Executed end to end:
tests/e2e/test_notebook_kernels.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from kernel_fixtures import DEMO, build


def cells(folder: Path) -> list:
    notebook = nbformat.read(folder / f"{folder.name}.ipynb", as_version=4)
    nbformat.validate(notebook)  # what Jupyter and Kaggle read
    return notebook.cells


def test_a_notebook_kernel_is_the_script_kernel_one_cell_per_step(cli, workdir):
    script, _ = build(cli, "digits-as-script", "--owner", "kaggler")
    folder, out = build(cli, "digits-as-notebook", "--owner", "kaggler", "--notebook")
    assert f"notebook kernel kaggler/digits-as-notebook (CPU, internet off) written to {folder}/digits-as-notebook.ipynb" in out
    meta = json.loads((folder / "kernel-metadata.json").read_text())
    assert meta["kernel_type"] == "notebook" and meta["code_file"] == "digits-as-notebook.ipynb"
    assert meta["language"] == "python" and meta["enable_internet"] is False
    assert sorted(p.name for p in folder.iterdir()) == ["digits-as-notebook.ipynb", "kagglekit-kernel.json",
                                                        "kernel-metadata.json"]
    found = cells(folder)
    assert [c.cell_type for c in found] == ["markdown", "code", "code", "code", "code"]
    titles = [c.source.splitlines()[0] for c in found[1:]]
    assert titles == ["# Set-up: unpack the kagglekit this kernel carries", "# Training", "# Prediction: submission.csv",
                      "# The report's figures: history, scores, confusion matrix, ROC"]
    assert "digits-as-notebook: a kagglekit kernel for the demo-digits competition" in found[0].source
    assert all(not c.outputs for c in found[1:])
    # One builder: the carried kagglekit and the steps are the script's, word for word.
    text = (script / "digits-as-script.py").read_text()
    setup = found[1].source.replace("digits-as-notebook", "digits-as-script")
    payload = setup[setup.index("PAYLOAD_SHA1"):setup.index("def _unpack_source")]
    assert payload in text and "'image_size': 16" in setup
    for cell in found[1:4]:
        code = cell.source.splitlines()[-1]
        assert f"    {code}" in text
    assert "IPython.display" in found[4].source and "entry.figures(session)" in found[4].source
    assert "IPython" not in text  # the figures are the notebook's alone


def test_rebuilding_in_the_other_form_leaves_one_code_file(cli, workdir):
    folder, _ = build(cli, "digits-either", "--owner", "kaggler", "--notebook")
    build(cli, "digits-either", "--owner", "kaggler")
    assert sorted(p.name for p in folder.glob("digits-either.*")) == ["digits-either.py"]
    assert json.loads((folder / "kernel-metadata.json").read_text())["kernel_type"] == "script"


def test_an_inference_notebook_has_no_training_cell(cli, workdir):
    code, out, err = cli("kernel", "build", "-c", DEMO, "--owner", "kaggler", "--notebook", "--name", "digits-infer-nb",
                         "--predict-from", "dataset:kaggler/digits-models")
    assert code == 0, err
    assert "inference notebook kaggler/digits-infer-nb" in out and "digits-infer-nb.ipynb" in out
    folder = workdir / "kernels" / "digits-infer-nb"
    found = cells(folder)
    assert [c.source.splitlines()[0] for c in found[1:]] == [
        "# Set-up: unpack the kagglekit this kernel carries", "# Prediction: submission.csv",
        "# The report's figures: history, scores, confusion matrix, ROC"]
    assert "a kagglekit inference kernel" in found[0].source and "kaggler/digits-models" in found[0].source
    assert "'predict_from': {'kind': 'dataset', 'ref': 'kaggler/digits-models'}" in found[1].source
    meta = json.loads((folder / "kernel-metadata.json").read_text())
    assert meta["kernel_type"] == "notebook" and meta["dataset_sources"] == ["kaggler/digits-models"]


def test_the_fold_kernels_of_a_notebook_are_notebooks(cli, workdir):
    from kagglekit.kernels.build import build_kernel, spec_from_folder
    from kagglekit.kernels.fanout import fold_specs

    folder, _ = build(cli, "digits-nb-fan", "--owner", "kaggler", "--notebook")
    for spec in fold_specs(spec_from_folder(folder)):
        made = build_kernel(spec, workdir / "kernels")
        assert json.loads((made / "kernel-metadata.json").read_text())["code_file"] == f"{spec.name}.ipynb"
        assert "'fold': " + str(spec.config.fold) in cells(made)[1].source


def test_the_stock_client_pushes_the_notebook_as_built(cli, kernel_env, session_env, run_kaggle, tmp_path):
    folder, _ = build(cli, "digits-nb-push", "--notebook")  # owner from the (sandbox's) credentials
    code, out, err = cli("kernel", "push", "digits-nb-push", "-q")
    assert code == 0, err
    assert "pushed kaggler/digits-nb-push (version 1)" in out
    pulled = run_kaggle("kernels", "pull", "kaggler/digits-nb-push", "-p", str(tmp_path / "pulled"), "-m")
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    meta = json.loads((tmp_path / "pulled" / "kernel-metadata.json").read_text())
    assert meta["kernel_type"] == "notebook"
    [code_file] = [p for p in (tmp_path / "pulled").iterdir() if p.name != "kernel-metadata.json"]
    assert [c.source for c in nbformat.reads(code_file.read_text(), as_version=4).cells] == \
        [c.source for c in cells(folder)]
