"""Kernel queries of the sandbox through the stock kaggle CLI: kernels list (mine, by competition, dataset,
parent, search, type), pull / get with -m and update after a pull, kernels files; notebook pushes stored as pushed."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import pytest

pytest_plugins = ["sandbox_fixtures"]

DEMO = "demo-digits"
NOTEBOOK = {"cells": [{"cell_type": "markdown", "source": ["# A notebook\n"], "metadata": {}},
                      {"cell_type": "code", "source": ["x = 6 * 7\n", "print(x)\n"], "metadata": {},
                       "outputs": [{"output_type": "stream", "name": "stdout", "text": ["42\n"]}], "execution_count": 1}],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def kernel_folder(root: Path, slug: str, code: str, kernel_type: str = "script", **sources) -> Path:
    folder = root / slug
    folder.mkdir(parents=True)
    name = "run.py" if kernel_type == "script" else "notebook.ipynb"
    (folder / name).write_text(code)
    (folder / "kernel-metadata.json").write_text(json.dumps({
        "id": f"kaggler/{slug}", "title": slug.replace("-", " "), "code_file": name, "language": "python",
        "kernel_type": kernel_type, "is_private": True, "enable_gpu": False, "enable_tpu": False,
        "enable_internet": False, "keywords": [], "competition_sources": sources.get("competitions", []),
        "dataset_sources": sources.get("datasets", []), "kernel_sources": sources.get("kernels", []),
        "model_sources": []}))
    return folder


def ok(result):
    assert result.returncode == 0 and "error" not in result.stdout.lower(), result.stdout + result.stderr
    return result


def refs(result) -> list[str]:
    ok(result)
    return sorted(r["ref"] for r in csv.DictReader(io.StringIO(result.stdout)))


def wait_complete(sandbox, ref: str, number: int = 1, timeout: float = 60) -> None:
    from kagglekit.sandbox.sessions import session_dir as _session_dir

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        versions = sandbox.store.data["kernels"][ref]["versions"]
        if versions[number - 1]["status"] in ("COMPLETE", "ERROR"):
            assert versions[number - 1]["status"] == "COMPLETE", (_session_dir(sandbox, ref, number) / "log.txt").read_text()
            return
        time.sleep(0.2)
    raise AssertionError(f"{ref} version {number} did not finish in {timeout} s")


@pytest.fixture
def dataset(sandbox, run_kaggle, tmp_path, monkeypatch) -> str:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    folder = tmp_path / "weights-data"
    folder.mkdir()
    (folder / "w.txt").write_text("w")
    (folder / "dataset-metadata.json").write_text(json.dumps({"id": "kaggler/weights-data", "title": "weights data",
                                                              "licenses": [{"name": "CC0-1.0"}]}))
    ok(run_kaggle("datasets", "create", "-p", str(folder)))
    return "kaggler/weights-data"


def test_kernels_list_pull_files_and_update_after_a_pull(sandbox, dataset, run_kaggle, tmp_path):
    trainer = kernel_folder(tmp_path, "digits-trainer", "open('model.txt', 'w').write('trained')\nprint('done')\n",
                            competitions=[DEMO], datasets=[dataset])
    ok(run_kaggle("kernels", "push", "-p", str(trainer)))
    wait_complete(sandbox, "kaggler/digits-trainer")
    user = kernel_folder(tmp_path, "digits-predictor", "print(open('../input/digits-trainer/model.txt').read())\n",
                         competitions=[DEMO], kernels=["kaggler/digits-trainer"])
    ok(run_kaggle("kernels", "push", "-p", str(user)))
    notebook = kernel_folder(tmp_path, "a-notebook", json.dumps(NOTEBOOK), kernel_type="notebook")
    ok(run_kaggle("kernels", "push", "-p", str(notebook), "--no-run"))

    everything = ["kaggler/a-notebook", "kaggler/digits-predictor", "kaggler/digits-trainer"]
    assert refs(run_kaggle("kernels", "list", "--mine", "--csv")) == everything
    assert refs(run_kaggle("kernels", "list", "--competition", DEMO, "--csv")) == everything[1:]
    assert refs(run_kaggle("kernels", "list", "--dataset", dataset, "--csv")) == ["kaggler/digits-trainer"]
    assert refs(run_kaggle("kernels", "list", "--parent", "kaggler/digits-trainer", "--csv")) == ["kaggler/digits-predictor"]
    assert refs(run_kaggle("kernels", "list", "-s", "predictor", "--csv")) == ["kaggler/digits-predictor"]
    assert refs(run_kaggle("kernels", "list", "--kernel-type", "notebook", "--csv")) == ["kaggler/a-notebook"]
    assert "Not found" in ok(run_kaggle("kernels", "list", "--user", "someone-else")).stdout

    files = list(csv.DictReader(io.StringIO(ok(run_kaggle("kernels", "files", "kaggler/digits-trainer", "--csv")).stdout)))
    assert [(f["name"], f["size"]) for f in files] == [("model.txt", "7")]

    ok(run_kaggle("kernels", "pull", "kaggler/digits-trainer", "-p", str(tmp_path / "pulled"), "-m"))
    pulled = json.loads((tmp_path / "pulled" / "kernel-metadata.json").read_text())
    pushed = json.loads((trainer / "kernel-metadata.json").read_text())
    for key in ("id", "title", "language", "kernel_type", "is_private", "enable_internet", "competition_sources",
                "dataset_sources", "kernel_sources", "model_sources"):
        assert pulled[key] == pushed[key], key
    assert (tmp_path / "pulled" / pulled["code_file"]).read_text() == (trainer / "run.py").read_text()

    (tmp_path / "pulled" / pulled["code_file"]).write_text("open('model.txt', 'w').write('retrained')\n")
    done = ok(run_kaggle("kernels", "update", "-p", str(tmp_path / "pulled")))
    assert "Kernel version 2 successfully pushed" in done.stdout
    assert "https://www.kaggle.com/code/kaggler/digits-trainer" in done.stdout
    wait_complete(sandbox, "kaggler/digits-trainer", 2)
    ok(run_kaggle("kernels", "pull", "kaggler/digits-trainer/1", "-p", str(tmp_path / "v1")))
    assert "'trained'" in (tmp_path / "v1" / "digits-trainer.py").read_text()  # version 1, as it was


def test_a_notebook_push_is_accepted_and_kept_as_the_client_sent_it(sandbox, run_kaggle, tmp_path):
    notebook = kernel_folder(tmp_path, "a-notebook", json.dumps(NOTEBOOK), kernel_type="notebook")
    ok(run_kaggle("kernels", "push", "-p", str(notebook), "--no-run"))
    version = sandbox.store.data["kernels"]["kaggler/a-notebook"]["versions"][0]
    assert (version["kernel_type"], version["source"]) == ("notebook", "notebook.ipynb")
    kept = json.loads((sandbox.sessions_dir / "kernels" / "kaggler" / "a-notebook" / "1" / "notebook.ipynb").read_text())
    # What the client sends: the outputs emptied and each cell's source joined into one string.
    assert [c["source"] for c in kept["cells"]] == ["# A notebook\n", "x = 6 * 7\nprint(x)\n"]
    assert kept["cells"][1]["outputs"] == [] and kept["metadata"] == NOTEBOOK["metadata"]

    ok(run_kaggle("kernels", "pull", "kaggler/a-notebook", "-p", str(tmp_path / "pulled"), "-m"))
    assert json.loads((tmp_path / "pulled" / "a-notebook.ipynb").read_text()) == kept
    meta = json.loads((tmp_path / "pulled" / "kernel-metadata.json").read_text())
    assert (meta["kernel_type"], meta["code_file"]) == ("notebook", "a-notebook.ipynb")
    refused = kernel_folder(tmp_path, "an-r-script", "print(1)")
    meta = json.loads((refused / "kernel-metadata.json").read_text())
    (refused / "kernel-metadata.json").write_text(json.dumps({**meta, "language": "r"}))
    done = run_kaggle("kernels", "push", "-p", str(refused))
    assert done.returncode == 1 and "python kernels only" in done.stderr
