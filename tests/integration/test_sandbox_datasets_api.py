"""The sandbox's datasets through the stock kaggle CLI: list, files, metadata, download (whole, one file, resumed),
version -d, delete; and a create that fails followed by a retry that resumes its uploads and succeeds."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest

pytest_plugins = ["sandbox_fixtures"]


@pytest.fixture
def upload_state(tmp_path, monkeypatch) -> Path:
    """The client keeps its resumable-upload state under $TMPDIR: one folder per test, not the machine's /tmp."""
    folder = tmp_path / "client-tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    return folder


def dataset_folder(root: Path, slug: str = "tiny-data", payload: bytes = b"abc", sub: bool = True) -> Path:
    """A folder to publish: a.csv, and sub/w.bin (or w.bin beside it without SUB), with its dataset-metadata.json."""
    folder = root / slug
    (folder / "sub").mkdir(parents=True, exist_ok=True)
    (folder / "a.csv").write_text("x\n1\n")
    (folder / ("sub" if sub else ".") / "w.bin").write_bytes(payload)
    (folder / "dataset-metadata.json").write_text(json.dumps(
        {"id": f"kaggler/{slug}", "title": slug.replace("-", " ").capitalize(), "subtitle": "a tiny dataset for the tests", "licenses": [{"name": "CC0-1.0"}]}))
    return folder


def ok(result):
    assert result.returncode == 0 and "error" not in result.stdout.lower(), result.stdout + result.stderr
    return result


def table(result) -> list[dict]:
    ok(result)
    return list(csv.DictReader(io.StringIO(result.stdout)))


def test_datasets_list_files_metadata_download_version_and_delete(sandbox, run_kaggle, tmp_path, upload_state):
    folder = dataset_folder(tmp_path)
    ok(run_kaggle("datasets", "create", "-p", str(folder), "--dir-mode", "zip"))
    other = dataset_folder(tmp_path, "other-stuff")
    ok(run_kaggle("datasets", "create", "-p", str(other), "--dir-mode", "zip"))

    assert sorted(r["ref"] for r in table(run_kaggle("datasets", "list", "--mine", "--csv"))) == [
        "kaggler/other-stuff", "kaggler/tiny-data"]
    assert [r["ref"] for r in table(run_kaggle("datasets", "list", "-s", "tiny-data", "--csv"))] == ["kaggler/tiny-data"]
    assert len(table(run_kaggle("datasets", "list", "--user", "kaggler", "--csv"))) == 2
    assert "No datasets found" in ok(run_kaggle("datasets", "list", "--user", "someone-else")).stdout
    files = table(run_kaggle("datasets", "files", "kaggler/tiny-data", "--csv"))
    assert {(r["name"], r["size"]) for r in files} == {("a.csv", "4"), ("sub/w.bin", "3")}  # the zip unpacked

    ok(run_kaggle("datasets", "metadata", "kaggler/tiny-data", "-p", str(tmp_path / "meta")))
    meta = json.loads((tmp_path / "meta" / "dataset-metadata.json").read_text())["info"]  # the client writes the answer
    assert (meta["title"], meta["subtitle"], meta["licenses"]) == ("Tiny data", "a tiny dataset for the tests", [{"name": "CC0-1.0"}])
    assert {(f["name"], f["totalBytes"]) for f in meta["data"]} == {("a.csv", 4), ("sub/w.bin", 3)}

    ok(run_kaggle("datasets", "download", "kaggler/tiny-data", "-p", str(tmp_path / "all"), "--unzip"))
    assert (tmp_path / "all" / "sub" / "w.bin").read_bytes() == b"abc"
    assert (tmp_path / "all" / "a.csv").read_text() == "x\n1\n"
    ok(run_kaggle("datasets", "download", "kaggler/tiny-data", "-f", "sub/w.bin", "-p", str(tmp_path / "one")))
    assert (tmp_path / "one" / "sub" / "w.bin").read_bytes() == b"abc"

    (folder / "sub" / "w.bin").write_bytes(b"second")
    ok(run_kaggle("datasets", "version", "-p", str(folder), "-m", "v2", "--dir-mode", "zip", "-d"))
    gone = run_kaggle("datasets", "files", "kaggler/tiny-data/1")
    assert gone.returncode == 1 and "has no version 1" in gone.stderr  # -d deleted it
    assert not (sandbox.state_dir / "datasets" / "kaggler" / "tiny-data" / "1").exists()
    ok(run_kaggle("datasets", "download", "kaggler/tiny-data", "-f", "sub/w.bin", "-p", str(tmp_path / "v2"), "--force"))
    assert (tmp_path / "v2" / "sub" / "w.bin").read_bytes() == b"second"
    assert json.loads(ok(run_kaggle("datasets", "status", "kaggler/tiny-data", "--format", "json")).stdout) == {
        "status": "ready", "current_version_number": 2}

    ok(run_kaggle("datasets", "delete", "kaggler/other-stuff", "-y"))
    assert [r["ref"] for r in table(run_kaggle("datasets", "list", "--mine", "--csv"))] == ["kaggler/tiny-data"]
    assert run_kaggle("datasets", "files", "kaggler/other-stuff").returncode == 1


def test_a_dataset_download_cut_off_resumes_from_where_it_stopped(sandbox, run_kaggle, tmp_path, upload_state):
    payload = os.urandom(3_000_000)  # the client writes 1 MiB chunks: the cut comes after the first two
    ok(run_kaggle("datasets", "create", "-p", str(dataset_folder(tmp_path, payload=payload)), "--dir-mode", "zip"))
    sandbox.faults.set(drop=1, drop_after=2_500_000)
    done = run_kaggle("datasets", "download", "kaggler/tiny-data", "-f", "sub/w.bin", "-p", str(tmp_path / "dl"))
    assert done.returncode == 0 and "Connection broken" in done.stdout, done.stdout + done.stderr
    assert (tmp_path / "dl" / "sub" / "w.bin").read_bytes() == payload
    assert sandbox.range_starts == [2 * 1024 * 1024]  # resumed after the bytes written, not started again


def test_a_failed_create_is_retried_and_resumes_its_finished_uploads(sandbox, run_kaggle, tmp_path, upload_state):
    folder = dataset_folder(tmp_path, sub=False)  # plain files: a zipped folder is a new temporary file each time
    sandbox.faults.set(fail=1, status=500, only="CreateDataset")
    failed = run_kaggle("datasets", "create", "-p", str(folder))
    assert failed.returncode == 1 and "injected fault" in failed.stderr
    assert any(upload_state.rglob("*.json"))  # the client kept its resume state for the uploads it finished

    retried = ok(run_kaggle("datasets", "create", "-p", str(folder)))
    assert "Upload unsuccessful" not in retried.stdout + retried.stderr
    assert sandbox.stats["StartBlobUpload"] == 2  # the two files were not uploaded again: the status query said done
    assert sandbox.stats["CreateDataset"] == 2
    files = table(run_kaggle("datasets", "files", "kaggler/tiny-data", "--csv"))
    assert {r["name"] for r in files} == {"a.csv", "w.bin"}


def test_an_upload_status_query_is_answered_as_google_cloud_storage_does(sandbox):
    """PUT with no body and Content-Range: bytes */N: 308 with the Range kept, or 200 once complete."""
    import requests

    from kagglekit.sandbox.routes import Call
    from kagglekit.sandbox.blobs import start_blob_upload

    user, _ = sandbox.store.credentials()
    answer = start_blob_upload(Call(sandbox, user, {"name": "w.bin", "contentLength": 10}, f"http://127.0.0.1:{sandbox.port}"))
    url, session = answer.create_url, requests.Session()
    session.trust_env = False  # straight to the sandbox's port, not through the proxy variables
    asked = session.put(url, headers={"Content-Range": "bytes */10", "Content-Length": "0"})
    assert asked.status_code == 308 and "Range" not in asked.headers  # nothing received yet
    assert session.put(url, data=b"01234", headers={"Content-Range": "bytes 0-4/10"}).status_code == 308
    asked = session.put(url, headers={"Content-Range": "bytes */10", "Content-Length": "0"})
    assert asked.status_code == 308 and asked.headers["Range"] == "bytes=0-4"
    assert session.put(url, data=b"56789", headers={"Content-Range": "bytes 5-9/10"}).status_code == 200
    assert session.put(url, headers={"Content-Range": "bytes */10", "Content-Length": "0"}).status_code == 200
    assert sandbox.store.upload_path(answer.token).read_bytes() == b"0123456789"
    assert session.put(url.rsplit("/", 1)[0] + "/unknown", headers={"Content-Range": "bytes */10"}).status_code == 404
