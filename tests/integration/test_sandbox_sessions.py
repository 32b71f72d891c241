"""Sandbox kernel sessions through the stock kaggle CLI: what a session can reach (not the solution, not the state),
its environment and thread limits, the machine shapes Kaggle takes, and notebooks run cell by cell."""

from __future__ import annotations

import hashlib
import json
import os
import textwrap
import time
from pathlib import Path

import pytest

pytest_plugins = ["sandbox_fixtures"]

CODE = "demo-digits-code"
DEMO = "demo-digits"

# Tries every way a kernel could reach the sealed answers: the paths it is told (passed in as KNOWN), the
# folders above its inputs, working folder, home, temp and cache, every process's environment and command
# line, and its own environment. It writes what it found to report.json.
PROBE = textwrap.dedent('''
    import hashlib, json, os
    KNOWN = {known!r}
    SKIP = {{"/proc", "/sys", "/dev", "/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc", "/var", "/boot", "/run"}}
    found, read, opened, seen = [], {{}}, {{}}, set()
    inp, work = os.environ["KAGGLEKIT_KAGGLE_INPUT"], os.environ["KAGGLEKIT_KAGGLE_WORKING"]
    starts = [inp, os.getcwd(), os.environ["HOME"], os.environ["TMPDIR"], os.environ["KAGGLEKIT_CACHE"]]
    def ancestors(path):
        path = os.path.abspath(path)
        while True:
            yield path
            if path == os.path.dirname(path):
                return
            path = os.path.dirname(path)
    for start in starts:
        for top in ancestors(start):
            for folder, dirs, files in os.walk(top):
                if folder in seen or len(seen) > 20000:
                    dirs[:] = []
                    continue
                seen.add(folder)
                dirs[:] = [d for d in dirs if os.path.join(folder, d) not in SKIP and d not in (".git", ".venv", "site-packages")
                           and folder.count(os.sep) - top.count(os.sep) < 4]
                for name in files:
                    path = os.path.join(folder, name)
                    if name in ("state.json", "solution.csv", "client.env"):
                        found.append(path)
                    try:
                        if os.path.isfile(path) and os.path.getsize(path) < 300000 and not path.startswith(work):
                            read[path] = hashlib.sha256(open(path, "rb").read()).hexdigest()
                    except OSError:
                        pass
    for path in KNOWN:
        try:
            opened[path] = hashlib.sha256(open(path, "rb").read()).hexdigest()
        except OSError as err:
            opened[path] = type(err).__name__
    procs = ""
    for pid in os.listdir("/proc"):
        for part in ("environ", "cmdline"):
            try:
                procs += open(f"/proc/{{pid}}/{{part}}", "rb").read().decode(errors="replace")
            except OSError:
                pass
    links = [os.path.join(f, n) for f, _, names in os.walk(inp) for n in names if os.path.islink(os.path.join(f, n))]
    json.dump({{"found": found, "read": read, "opened": opened, "procs": procs, "environ": dict(os.environ),
               "links": links, "inputs": sorted(os.listdir(os.path.join(inp, "{slug}")))}},
              open(os.path.join(work, "report.json"), "w"))
    print("probed", len(seen), "folders")
''')

NOTEBOOK_WRITES = [("code", "import csv\nrows = [('id', 'label'), ('a', 1), ('b', 2)]\n"
                            "csv.writer(open('written.csv', 'w', newline='')).writerows(rows)\nprint('wrote', len(rows) - 1, 'rows')"),
                   ("markdown", "# second part"),
                   ("code", "6 * 7"),
                   ("code", "import socket\ntry:\n    socket.create_connection(('127.0.0.1', 9), timeout=1)\n"
                            "except OSError as err:\n    print('no network:', err)")]
NOTEBOOK_FAILS = [("code", "print('first cell ran')"), ("code", "1 / 0"), ("code", "print('never')")]


def kernel_folder(root: Path, slug: str, code: str, kernel_type: str = "script", competitions=(), **meta) -> Path:
    folder = root / slug
    folder.mkdir(parents=True)
    name = "run.py" if kernel_type == "script" else f"{slug}.ipynb"
    (folder / name).write_text(code)
    (folder / "kernel-metadata.json").write_text(json.dumps({
        "id": f"kaggler/{slug}", "title": slug.replace("-", " "), "code_file": name, "language": "python",
        "kernel_type": kernel_type, "is_private": True, "enable_gpu": False, "enable_tpu": False,
        "enable_internet": False, "keywords": [], "competition_sources": list(competitions), "dataset_sources": [],
        "kernel_sources": [], "model_sources": [], **meta}))
    return folder


def notebook(cells) -> str:
    return json.dumps({"cells": [{"cell_type": kind, "source": text, "metadata": {},
                                  **({"outputs": [], "execution_count": None} if kind == "code" else {})}
                                 for kind, text in cells],
                       "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
                       "nbformat": 4, "nbformat_minor": 5})


def ok(result):
    assert result.returncode == 0 and "error" not in result.stdout.lower(), result.stdout + result.stderr
    return result


def wait_status(run_kaggle, sandbox, ref: str, timeout: float = 90) -> str:
    """The status line `kaggle kernels status` prints once the session has ended (waited for in the sandbox's
    store, so that the wait costs no client start-ups)."""
    deadline = time.monotonic() + timeout
    while sandbox.store.data["kernels"][ref]["versions"][-1]["status"] not in ("COMPLETE", "ERROR"):
        assert time.monotonic() < deadline, f"{ref} did not finish in {timeout} s"
        time.sleep(0.1)
    done = run_kaggle("kernels", "status", ref)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def output(run_kaggle, ref: str, folder: Path) -> Path:
    ok(run_kaggle("kernels", "output", ref, "-p", str(folder)))
    return folder


def log_events(folder: Path, slug: str) -> list[dict]:
    """The log `kaggle kernels output` wrote: Kaggle's JSON array of {stream_name, time, data} events."""
    return json.loads((folder / f"{slug}.log").read_text())


def text(output: dict, key: str = "text") -> str:
    """A notebook output's text (nbformat keeps multi-line text as a list of lines)."""
    value = output[key]
    return "".join(value) if isinstance(value, list) else value


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def probe(sandbox, run_kaggle, tmp_path, slug: str) -> dict:
    """Push the probe with the code competition attached, and the report it wrote."""
    bundle = sandbox.bundles[CODE]
    known = [str(sandbox.state_dir / "state.json"), str(sandbox.state_dir / "client.env"), str(bundle.solution),
             str(bundle.hidden / "solution.csv"), str(bundle.folder / "train.csv")]
    ok(run_kaggle("kernels", "push", "-p", str(kernel_folder(tmp_path, slug, PROBE.format(known=known, slug=CODE),
                                                              competitions=[CODE]))))
    assert "COMPLETE" in wait_status(run_kaggle, sandbox, f"kaggler/{slug}")
    return json.loads((output(run_kaggle, f"kaggler/{slug}", tmp_path / "out") / "report.json").read_text())


def test_a_kernel_environment_holds_no_sandbox_path_and_its_inputs_are_no_links(sandbox, run_kaggle, tmp_path,
                                                                                monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # what a test worker sets so that sessions share 2 cores
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "1")
    monkeypatch.delenv("TF_NUM_INTEROP_THREADS", raising=False)  # unset: the machine shape's cores, capped
    report = probe(sandbox, run_kaggle, tmp_path, "env-probe")
    bundle = sandbox.bundles[CODE]
    sandbox_paths = [str(sandbox.state_dir), str(sandbox.cache_dir), str(bundle.folder)]
    assert not [v for v in report["environ"].values() for p in sandbox_paths if p + os.sep in v + os.sep]
    assert not any("KAGGLE_KEY" in k or "KAGGLE_USERNAME" in k or "proxy" in k.lower() for k in report["environ"])
    assert report["links"] == []  # hard links or copies: nothing points back at the bundle
    assert report["inputs"] == sorted({name.split("/")[0] for name in bundle.files})  # the published files only
    assert report["environ"]["OMP_NUM_THREADS"] == "1" and report["environ"]["TF_NUM_INTRAOP_THREADS"] == "1"
    assert report["environ"]["TF_NUM_INTEROP_THREADS"] == str(min(4, os.cpu_count()))


def test_a_kernel_cannot_read_the_solution_or_the_state(sandbox, run_kaggle, tmp_path):
    from kagglekit.sandbox.box import can_confine

    if not can_confine():
        pytest.skip("no unprivileged user namespaces on this machine: sessions are isolated by paths only")
    report = probe(sandbox, run_kaggle, tmp_path, "answers-probe")
    bundle = sandbox.bundles[CODE]
    secrets = {sha(bundle.solution), sha(bundle.hidden / "solution.csv"), sha(sandbox.state_dir / "client.env")}
    ours = [str(p) + os.sep for p in (sandbox.state_dir, sandbox.cache_dir, sandbox.sessions_dir, bundle.folder)]
    # no state.json, solution.csv or client.env of this sandbox anywhere it can walk to
    assert not [path for path in report["found"] if any(path.startswith(p) for p in ours)], report["found"]
    assert not secrets & set(report["read"].values())
    assert all(result in ("FileNotFoundError", "PermissionError") for result in report["opened"].values()), report["opened"]
    key = sandbox.store.credentials()[1]
    assert key not in report["procs"] and str(sandbox.state_dir) + os.sep not in report["procs"]
    assert key not in json.dumps(report["environ"])
    assert len(report["read"]) > 0  # it did walk: the python it runs on is there to read


def test_the_machine_shapes_are_kaggles(sandbox, run_kaggle, tmp_path):
    folder = kernel_folder(tmp_path, "shaped", "print(1)")
    refused = run_kaggle("kernels", "push", "-p", str(folder), "--accelerator", "NvidiaTeslaK80")
    assert "Invalid machine shape NvidiaTeslaK80" in refused.stdout + refused.stderr
    # Retired on Kaggle (the client warns, the server substitutes): kagglekit refuses it, Kaggle takes it.
    taken = ok(run_kaggle("kernels", "push", "-p", str(folder), "--accelerator", "NvidiaTeslaP100"))
    assert "successfully pushed" in taken.stdout
    versions = sandbox.store.data["kernels"]["kaggler/shaped"]["versions"]
    assert [v["machine_shape"] for v in versions] == ["NvidiaTeslaP100"]


def test_a_notebook_runs_cell_by_cell_with_its_output_and_log(sandbox, run_kaggle, tmp_path):
    slug = "writes-a-csv"
    ok(run_kaggle("kernels", "push", "-p", str(kernel_folder(tmp_path, slug, notebook(NOTEBOOK_WRITES), "notebook",
                                                              competitions=[DEMO]))))
    assert "COMPLETE" in wait_status(run_kaggle, sandbox, f"kaggler/{slug}")
    out = output(run_kaggle, f"kaggler/{slug}", tmp_path / "out")
    assert (out / "written.csv").read_text().splitlines() == ["id,label", "a,1", "b,2"]
    executed = json.loads((out / "__notebook__.ipynb").read_text())
    code_cells = [c for c in executed["cells"] if c["cell_type"] == "code"]
    assert [c["execution_count"] for c in code_cells] == [1, 2, 3]
    assert text(code_cells[0]["outputs"][0]) == "wrote 2 rows\n"
    assert text(code_cells[1]["outputs"][0]["data"], "text/plain") == "42"
    events = log_events(out, slug)
    assert {"stream_name", "time", "data"} <= set(events[0])
    assert "wrote 2 rows\n" in [e["data"] for e in events if e["stream_name"] == "stdout"]
    # enable_internet false: the Jupyter kernel's sockets refuse to connect, as a script's do
    assert "no network: network access is disabled in this kernel (enable_internet is false)\n" in [e["data"] for e in events]


def test_a_failing_cell_makes_the_version_an_error_with_the_error_in_the_log(sandbox, run_kaggle, tmp_path):
    slug = "divides-by-zero"
    ok(run_kaggle("kernels", "push", "-p", str(kernel_folder(tmp_path, slug, notebook(NOTEBOOK_FAILS), "notebook"))))
    status = wait_status(run_kaggle, sandbox, f"kaggler/{slug}")
    assert "ERROR" in status and "ZeroDivisionError: division by zero" in status
    out = output(run_kaggle, f"kaggler/{slug}", tmp_path / "out")
    logged = "".join(e["data"] for e in log_events(out, slug))
    assert "first cell ran" in logged and "ZeroDivisionError" in logged and "never" not in logged
    cells = json.loads((out / "__notebook__.ipynb").read_text())["cells"]
    assert text(cells[0]["outputs"][0]) == "first cell ran\n"
    assert cells[1]["outputs"][0]["ename"] == "ZeroDivisionError" and cells[2]["outputs"] == []


def test_a_notebook_past_its_time_limit_is_stopped_with_its_jupyter_kernel(sandbox, run_kaggle, tmp_path):
    slug = "sleeps-too-long"
    # the second cell leaves a process of its own behind (its command line names the box's working folder)
    cells = [("code", "print('started', flush=True)"),
             ("code", "import os, subprocess, sys, time\n"
                      "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)', os.getcwd()])\n"
                      "time.sleep(120)")]
    folder = kernel_folder(tmp_path, slug, notebook(cells), "notebook")
    ok(run_kaggle("kernels", "push", "-p", str(folder), "-t", "4"))
    status = wait_status(run_kaggle, sandbox, f"kaggler/{slug}")
    assert "ERROR" in status and "ran past its limit of 4 s" in status
    box = str(sandbox.sessions_dir / "kernels" / "kaggler" / slug / "1")

    def left_running() -> list[str]:
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if box in command:
                found.append(command)
        return found

    assert left_running() == []  # the runner, its Jupyter kernel and what the cell started are all gone
