"""The sandbox, driven by the stock kaggle client: its CLI as a subprocess, its library in-process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest


DEMO = "demo-digits"


def direct(sandbox, path: str, body: dict | None = None, headers: dict | None = None):
    """A request straight to the sandbox's port (no proxy): (status, headers, body bytes)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{sandbox.port}{path}", data=data, headers=headers or {})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def api():
    from kagglekit.kaggle.remote import connect

    return connect()


def http_status(exc_info) -> int:
    return exc_info.value.response.status_code


# -- the stock kaggle CLI ------------------------------------------------------------

def test_stock_kaggle_cli_downloads_and_submits(make_sandbox, dogs_dir, tmp_path, run_kaggle):
    make_sandbox(dogs_dir, scoring_delay=0)
    result = run_kaggle("competitions", "download", "-c", "dogs-vs-cats", "-p", str(tmp_path / "dl"))
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(tmp_path / "dl" / "dogs-vs-cats.zip") as zf:
        assert sorted(zf.namelist()) == ["sampleSubmission.csv", "test1.zip", "train.zip"]  # no solution, no README
        assert zf.read("sampleSubmission.csv") == (dogs_dir / "sampleSubmission.csv").read_bytes()

    perfect = tmp_path / "perfect.csv"
    perfect.write_bytes((dogs_dir / "solution.csv").read_bytes())  # the true labels: accuracy 1
    result = run_kaggle("competitions", "submit", "-c", "dogs-vs-cats", "-f", str(perfect), "-m", "stock client")
    assert result.returncode == 0, result.stderr
    assert "Submission ref: 1" in result.stdout and "4 submissions remaining today" in result.stdout

    result = run_kaggle("competitions", "submissions", "-c", "dogs-vs-cats", "--csv")
    assert result.returncode == 0, result.stderr
    row = result.stdout.strip().splitlines()[-1].split(",")
    assert row[0] == "1" and row[1] == "perfect.csv" and "COMPLETE" in row[4] and row[5] == "1.00000"


def test_stock_kaggle_cli_lists_files_and_reports_errors(sandbox, run_kaggle):
    result = run_kaggle("competitions", "files", "-c", DEMO, "--page-size", "200", "--csv")
    assert result.returncode == 0, result.stderr
    names = [line.split(",")[0] for line in result.stdout.splitlines()]
    # Sorted by name, so the solution would be on this first page if it were listed.
    assert "Next Page Token = 200" in names and "sample_submission.csv" in names and "solution.csv" not in names

    result = run_kaggle("competitions", "files", "-c", "no-such-competition")
    assert result.returncode != 0 and "not found" in result.stderr


def test_competition_listing_says_each_competitions_metric(make_sandbox, dogs_dir, run_kaggle):
    make_sandbox(dogs_dir)
    result = run_kaggle("competitions", "list", "-s", "digits", "--csv")
    assert result.returncode == 0, result.stderr
    rows = result.stdout.strip().splitlines()
    assert rows[0].startswith("ref,deadline") and len(rows) == 3  # the digits demo and its code competition
    assert rows[1].startswith("https://www.kaggle.com/competitions/demo-digits,")
    assert rows[2].startswith("https://www.kaggle.com/competitions/demo-digits-code,")

    everything = api().competitions_list(search="", page_size=1)
    assert len(everything.competitions) == 1 and everything.next_page_token == "1"
    metrics = {c.ref.rsplit("/", 1)[1]: c.evaluation_metric
               for c in api().competitions_list(search="").competitions}
    assert metrics == {"demo-digits": "Log Loss", "demo-digits-code": "Log Loss", "dogs-vs-cats": "Categorization Accuracy"}
    assert api().competitions_list(search="Dogs Cats").competitions[0].title == "Dogs vs. Cats"


def test_sandbox_command_prints_the_environment_and_serves(tmp_path):
    kagglekit = Path(sys.executable).with_name("kagglekit")
    state = tmp_path / "state"
    proc = subprocess.Popen([str(kagglekit), "sandbox", "--port", "0", "--state", str(state)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (state / "client.env").is_file() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        env = dict(line.split(" ", 1)[1].split("=", 1) for line in (state / "client.env").read_text().splitlines()
                   if line.startswith("export "))
        assert env["KAGGLE_API_ENVIRONMENT"] == "LOCALHOST" and env["KAGGLE_USERNAME"] == "kaggler"
        port = env["http_proxy"].rsplit(":", 1)[1]
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
                f"http://127.0.0.1:{port}/sandbox/status", timeout=10) as answer:
            assert json.load(answer)["competitions"] == [DEMO, "demo-digits-code"]
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert f"export KAGGLE_KEY={env['KAGGLE_KEY']}" in out and "serving demo-digits" in out


def test_sandbox_command_rejects_a_missing_folder(cli, tmp_path):
    code, out, err = cli("sandbox", "--port", "0", "--state", tmp_path / "s", "--data", tmp_path / "nowhere")
    assert code == 1
    assert "does not exist" in err


# -- the wire protocol ---------------------------------------------------------------

def test_list_files_pages_and_never_lists_the_solution(sandbox):
    names, token = [], None
    while True:
        page = api().competition_list_files(DEMO, page_token=token, page_size=200)
        names += [f.name for f in page.files]
        token = page.next_page_token
        if not token:
            break
    assert len(names) == len(set(names)) == 1797 + 2
    assert "solution.csv" not in names and "train/00300.png" in names


def test_the_solution_is_never_served(sandbox):
    import requests

    with pytest.raises(requests.HTTPError) as exc_info:
        api().competition_download_file(DEMO, "solution.csv", path=str(sandbox.state_dir / "dl"), quiet=True)
    assert http_status(exc_info) == 404
    assert direct(sandbox, f"/sandbox/files/{DEMO}/solution.csv")[0] == 404
    assert direct(sandbox, f"/sandbox/files/{DEMO}/sample_submission.csv")[0] == 200


def test_wrong_key_gets_401(sandbox, monkeypatch):
    import requests

    monkeypatch.setenv("KAGGLE_KEY", "not-the-key")
    with pytest.raises(requests.HTTPError) as exc_info:
        api().competition_list_files(DEMO)
    assert http_status(exc_info) == 401


def test_access_token_works_like_the_key(sandbox, monkeypatch):
    _, key = sandbox.store.credentials()
    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")
    monkeypatch.setenv("KAGGLE_API_TOKEN", key)
    assert api().competition_list_files(DEMO).files


def test_state_survives_a_restart(make_sandbox, tmp_path):
    first = make_sandbox(state=tmp_path / "state", scoring_delay=0)
    sample = first.bundles[DEMO].folder / "sample_submission.csv"
    ref = api().competition_submit(str(sample), "before restart", DEMO, quiet=True).ref
    first.stop()

    second = make_sandbox(state=tmp_path / "state", scoring_delay=0)
    assert second.port != 0 and second.store.credentials() == first.store.credentials()
    subs = api().competition_submissions(DEMO)
    assert [(s.ref, s.description, s.public_score) for s in subs] == [(ref, "before restart", "2.30259")]


def test_a_file_that_cannot_be_scored_gets_the_error_status(sandbox):
    from kagglesdk.competitions.types.submission_status import SubmissionStatus

    bad = sandbox.state_dir / "bad.csv"
    bad.write_text("id,label\n00001,3\n")
    client = api()
    ref = client.competition_submit(str(bad), "bad header", DEMO, quiet=True).ref
    time.sleep(0.3)
    sub = client.get_submission(ref)
    assert sub.status == SubmissionStatus.ERROR and "header is id,label" in sub.error_description
    limits = client.competition_get_submission_limits(DEMO)
    assert (limits.num_today, limits.num_allowed_now) == (0, 5)  # failed submissions do not count


def test_ranged_downloads_follow_if_range(sandbox):
    from kagglekit.sandbox.bundles import bundle_zip

    whole = bundle_zip(sandbox.bundles[DEMO], sandbox.cache_dir).read_bytes()
    status, headers, _ = direct(sandbox, f"/sandbox/files/{DEMO}.zip")
    assert status == 200 and int(headers["Content-Length"]) == len(whole) and headers["Accept-Ranges"] == "bytes"
    etag = headers["ETag"]
    status, headers, body = direct(sandbox, f"/sandbox/files/{DEMO}.zip", headers={"Range": "bytes=1000-", "If-Range": etag})
    assert status == 206 and body == whole[1000:] and headers["Content-Range"] == f"bytes 1000-{len(whole) - 1}/{len(whole)}"
    status, _, body = direct(sandbox, f"/sandbox/files/{DEMO}.zip", headers={"Range": "bytes=1000-", "If-Range": '"old"'})
    assert status == 200 and body == whole  # the file changed: the whole of it, never a mix


def test_unimplemented_calls_and_foreign_hosts_get_clear_errors(sandbox):
    status, _, body = direct(sandbox, "/api/v1/competitions.CompetitionApiService/LaunchCompetition", {})
    # Not a 5xx: the client prints those as "a problem on Kaggle's side" (tests/integration/test_sandbox_api.py).
    assert status == 400 and b"not served by kagglekit sandbox: LaunchCompetition" in body
    assert direct(sandbox, "/elsewhere", {})[0] == 404
    # As a proxy, the sandbox answers only for localhost.
    import requests

    proxies = {"http": f"http://127.0.0.1:{sandbox.port}"}
    answer = requests.get("http://example.com/", proxies=proxies, timeout=10)
    assert answer.status_code == 502 and "only answers for localhost" in answer.json()["message"]


# -- faults and switches -------------------------------------------------------------

def test_faults_fail_slow_and_drop(sandbox):
    import requests

    client = api()
    sandbox.faults.set(fail=2, status=503, only="ListDataFiles")
    for _ in range(2):
        with pytest.raises(requests.HTTPError) as exc_info:
            client.competition_list_files(DEMO)
        assert http_status(exc_info) == 503
    assert client.competition_list_files(DEMO).files

    sandbox.faults.set(slow=1, delay=0.3)
    started = time.monotonic()
    client.competition_list_files(DEMO)
    assert time.monotonic() - started >= 0.3

    sandbox.faults.set(drop=1, drop_after=1000)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(f"http://localhost/sandbox/files/{DEMO}.zip", timeout=10).content


def test_control_endpoints(sandbox):
    auth = _basic_auth(sandbox)
    status, _, body = direct(sandbox, f"/sandbox/competitions/{DEMO}", {"rules_accepted": False})
    assert status == 401 and b"sandbox's user and key" in body  # the key is needed to change anything
    assert direct(sandbox, "/sandbox/faults", {"fail": 1})[0] == 401
    status, _, body = direct(sandbox, f"/sandbox/competitions/{DEMO}", {"rules_accepted": False}, headers=auth)
    assert status == 200 and json.loads(body)["rules_accepted"] is False
    status, _, body = direct(sandbox, "/api/v1/competitions.CompetitionApiService/ListDataFiles",
                             {"competitionName": DEMO}, headers=auth)
    assert status == 403 and json.loads(body)["code"] == 403

    assert direct(sandbox, "/sandbox/faults", {"fail": 1}, headers=auth)[0] == 200
    assert direct(sandbox, "/api/v1/competitions.CompetitionApiService/ListSubmissions", {})[0] == 500
    assert direct(sandbox, "/sandbox/faults", {"explode": 1}, headers=auth)[0] == 400
    status, _, body = direct(sandbox, "/sandbox/faults", {"fail": "3"}, headers=auth)
    assert status == 400 and b"must be a non-negative int" in body  # settings are type-checked
    status, _, body = direct(sandbox, f"/sandbox/competitions/{DEMO}", {"closed": "yes"}, headers=auth)
    assert status == 400 and b"true or false" in body
    assert direct(sandbox, "/sandbox/competitions/nope", {"closed": True}, headers=auth)[0] == 400
    status, _, body = direct(sandbox, "/sandbox/competitions/demo-digits-code", {"rerun_time_limit": 0}, headers=auth)
    assert status == 400 and b"a number of seconds above 0" in body
    status, _, body = direct(sandbox, "/sandbox/competitions/demo-digits-code", {"rerun_time_limit": 2.5}, headers=auth)
    assert status == 200 and json.loads(body)["rerun_time_limit"] == 2.5
    status, _, body = direct(sandbox, "/sandbox/status")
    assert status == 200 and json.loads(body)["competitions"] == [DEMO, "demo-digits-code"]


def test_client_env_is_for_its_owner_only(sandbox):
    import stat

    mode = stat.S_IMODE((sandbox.state_dir / "client.env").stat().st_mode)
    assert mode == 0o600  # it holds the sandbox's key
    assert stat.S_IMODE((sandbox.state_dir / "state.json").stat().st_mode) == 0o600


def _basic_auth(sandbox) -> dict:
    import base64

    user, key = sandbox.store.credentials()
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{key}".encode()).decode()}


def test_client_env_routes_the_stock_client_here(sandbox):
    env = sandbox.client_env()
    assert env["KAGGLE_API_ENVIRONMENT"] == "LOCALHOST"
    assert env["http_proxy"] == env["HTTP_PROXY"] == f"http://127.0.0.1:{sandbox.port}"
    assert env["no_proxy"] == env["NO_PROXY"] == ""
    assert os.environ["http_proxy"] == env["http_proxy"]  # what the fixture exported


@pytest.mark.parametrize("option", ["--submits", "--fetches", "--kills"])
def test_soak_refuses_a_negative_count_in_one_line(cli, option):
    code, out, err = cli("soak", option, "-1")
    assert code == 1 and err.strip() == f"error: {option} -1 is below 0; give a count of 0 or more"
