"""Kaggle Models in the sandbox through the stock kaggle CLI: models, instances and versions created, read,
updated, listed, downloaded and deleted. (A model mounted in a kernel: tests/e2e/test_kaggle_model_in_kernel.py.)"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

pytest_plugins = ["sandbox_fixtures"]

INSTANCE = "kaggler/tiny-net/keras/default"


def ok(result):
    assert result.returncode == 0 and "error" not in result.stdout.lower(), result.stdout + result.stderr
    return result


def table(result) -> list[dict]:
    return list(csv.DictReader(io.StringIO(ok(result).stdout)))


def model_folder(root: Path) -> Path:
    folder = root / "model"
    folder.mkdir()
    (folder / "model-metadata.json").write_text(json.dumps({
        "ownerSlug": "kaggler", "title": "Tiny net", "slug": "tiny-net", "subtitle": "", "isPrivate": True,
        "description": "A tiny net", "publishTime": "", "provenanceSources": ""}))
    return folder


def instance_folder(root: Path, weights: str) -> Path:
    folder = root / "instance"
    (folder / "assets").mkdir(parents=True, exist_ok=True)
    (folder / "weights.txt").write_text(weights)
    (folder / "assets" / "vocab.txt").write_text("a b c")
    (folder / "model-instance-metadata.json").write_text(json.dumps({
        "ownerSlug": "kaggler", "modelSlug": "tiny-net", "instanceSlug": "default", "framework": "keras",
        "overview": "first", "usage": "", "licenseName": "Apache 2.0", "fineTunable": False, "trainingData": [],
        "modelInstanceType": "Unspecified", "baseModelInstanceId": 0, "externalBaseModelUrl": ""}))
    return folder


@pytest.fixture
def client_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the client's resumable-upload state, per test


def test_models_instances_and_versions_through_the_stock_cli(sandbox, run_kaggle, tmp_path, client_tmp):
    from kagglekit.sandbox.models import Model

    folder = model_folder(tmp_path)
    done = ok(run_kaggle("models", "create", "-p", str(folder)))
    assert "Url=https://www.kaggle.com/models/kaggler/tiny-net" in done.stdout
    assert "Model creation error" in run_kaggle("models", "create", "-p", str(folder)).stdout  # the slug is taken

    instance = instance_folder(tmp_path, "w1")
    ok(run_kaggle("models", "instances", "create", "-p", str(instance), "--dir-mode", "zip"))
    (instance / "weights.txt").write_text("w2")
    done = ok(run_kaggle("models", "instances", "versions", "create", INSTANCE, "-p", str(instance), "-n", "second",
                         "--dir-mode", "zip"))
    assert f"Url=https://www.kaggle.com/models/{INSTANCE}/2" in done.stdout

    assert [r["version"] for r in table(run_kaggle("models", "instances", "versions", "list", INSTANCE, "--csv"))] == [
        "2", "1"]
    files = table(run_kaggle("models", "instances", "versions", "files", f"{INSTANCE}/1", "--csv"))
    assert {(f["name"], f["size"]) for f in files} == {("weights.txt", "2"), ("assets/vocab.txt", "5")}
    assert {f["name"] for f in table(run_kaggle("models", "instances", "files", INSTANCE, "--csv"))} == {
        "weights.txt", "assets/vocab.txt"}
    ok(run_kaggle("models", "instances", "versions", "download", f"{INSTANCE}/1", "-p", str(tmp_path / "v1"), "--untar"))
    assert (tmp_path / "v1" / "weights.txt").read_text() == "w1" and (tmp_path / "v1" / "assets" / "vocab.txt").is_file()

    ok(run_kaggle("models", "get", "kaggler/tiny-net", "-p", str(folder)))
    meta = json.loads((folder / "model-metadata.json").read_text())
    assert (meta["ownerSlug"], meta["slug"], meta["title"], meta["isPrivate"]) == ("kaggler", "tiny-net", "Tiny net", True)
    meta["title"] = "Tiny net, renamed"
    (folder / "model-metadata.json").write_text(json.dumps(meta))
    ok(run_kaggle("models", "update", "-p", str(folder)))
    assert [r["title"] for r in table(run_kaggle("models", "list", "--owner", "kaggler", "--csv"))] == ["Tiny net, renamed"]

    ok(run_kaggle("models", "instances", "get", INSTANCE, "-p", str(instance)))
    meta = json.loads((instance / "model-instance-metadata.json").read_text())
    assert (meta["instanceSlug"], meta["framework"], meta["versionNumber"]) == ("default", "keras", 2)
    meta["overview"] = "updated"
    (instance / "model-instance-metadata.json").write_text(json.dumps(meta))
    ok(run_kaggle("models", "instances", "update", "-p", str(instance)))
    listed = table(run_kaggle("models", "instances", "list", "kaggler/tiny-net", "--csv"))
    assert [(r["version"], r["notes"]) for r in listed] == [("2", "second")]
    assert sandbox.store.records("models", Model)[
        "kaggler/tiny-net"].instances["keras/default"].overview == "updated"

    assert "deleted" in ok(run_kaggle("models", "instances", "versions", "delete", f"{INSTANCE}/1", "-y")).stdout
    assert run_kaggle("models", "instances", "versions", "files", f"{INSTANCE}/1").returncode == 1
    assert "deleted" in ok(run_kaggle("models", "instances", "delete", INSTANCE, "-y")).stdout
    assert run_kaggle("models", "instances", "get", INSTANCE).returncode == 1
    assert "deleted" in ok(run_kaggle("models", "delete", "kaggler/tiny-net", "-y")).stdout
    assert "No models found" in ok(run_kaggle("models", "list")).stdout


def test_a_failed_instance_create_is_retried_and_succeeds(sandbox, run_kaggle, tmp_path, client_tmp):
    ok(run_kaggle("models", "create", "-p", str(model_folder(tmp_path))))
    instance = instance_folder(tmp_path, "w1")
    sandbox.faults.set(fail=1, status=503, only="CreateModelInstance")
    failed = run_kaggle("models", "instances", "create", "-p", str(instance))
    assert failed.returncode == 1 and "injected fault" in failed.stdout + failed.stderr
    ok(run_kaggle("models", "instances", "create", "-p", str(instance)))
    assert sandbox.stats["StartBlobUpload"] == 1  # weights.txt was not sent again (the folder is skipped)
    assert [f["name"] for f in table(run_kaggle("models", "instances", "files", INSTANCE, "--csv"))] == ["weights.txt"]
