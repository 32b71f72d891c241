"""What users look at: train's report, `report`, `runs`, `preview`, through the CLI, on a tiny real run."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]

FIGURES = ("history", "scores", "confusion", "roc", "probabilities", "wrong")


@pytest.fixture
def trained(trained_demo_run):
    """The session's tiny demo run: (folder it ran in, run folder, what train printed)."""
    return trained_demo_run.home, trained_demo_run.run, trained_demo_run


def check_figures(folder: Path) -> None:
    """Every PNG opens with Pillow at its fixed size; the HTML page embeds and links each one, and nothing online."""
    from kagglekit.runs.report import SIZES

    page = (folder / "report.html").read_text()
    for name in FIGURES:
        png = folder / f"{name}.png"
        with Image.open(png) as im:
            im.load()
            assert (im.format, im.size) == ("PNG", SIZES[name])
        assert base64.b64encode(png.read_bytes()).decode() in page
        assert f'href="{name}.png"' in page
    assert not re.search(r"https?://|<script|<link|@import|url\(", page)
    assert all(src.startswith("data:image/png;base64,") for src in re.findall(r'src="([^"]*)"', page))


def test_train_writes_report_at_the_end(trained):
    home, run, result = trained
    assert f"report: {(run / 'report' / 'report.html').relative_to(home)}\n" in result.stdout
    check_figures(run / "report")
    assert "INFO: fold 1/2  epoch 1/1" in result.stderr  # plain progress lines when not on a terminal


def test_report_command(trained, workdir, cli):
    _, run, _ = trained
    code, out, err = cli("report", run, "--out", "pictures")
    assert code == 0, err
    assert "report: pictures/report.html (6 figures" in out
    check_figures(workdir / "pictures")
    page = (workdir / "pictures" / "report.html").read_text()
    assert "OOF log_loss" in page and "bn_cnn_small" in page


def test_confidently_wrong_are_wrong_and_sorted(trained):
    from kagglekit.runs.report import confidently_wrong, load_run

    run = load_run(trained[1])
    wrong = confidently_wrong(run)
    assert 0 < len(wrong) <= 16
    assert (wrong["label"] != wrong["predicted"]).all()
    assert wrong["confidence"].is_monotonic_decreasing
    oof = run.oof.set_index("id")
    assert (oof.loc[wrong["id"], "label"].to_numpy() == wrong["label"].to_numpy()).all()


def test_report_bad_input(workdir, cli):
    code, _, err = cli("report", "nowhere")
    assert code == 1 and "not a kagglekit run folder" in err and len(err.strip().splitlines()) == 1
    (workdir / "empty").mkdir()
    (workdir / "empty" / "config.json").write_text("{}")
    code, _, err = cli("report", "empty")
    assert code == 1 and "has no finished fold" in err
    assert not (workdir / "empty" / "report").exists()


def _binary_run(folder: Path) -> Path:
    """A two-class run folder in the layout train writes, whose training images are gone."""
    folder.mkdir()
    ids = [f"{i:03d}" for i in range(40)]
    labels = [i % 2 for i in range(40)]
    p_dog = [0.9 if (i % 2) == (i % 7 != 0) else 0.2 for i in range(40)]
    oof = pd.DataFrame({"id": ids, "fold": [i % 2 for i in range(40)], "label": labels,
                        "p_cat": [1 - p for p in p_dog], "p_dog": p_dog})
    oof.to_csv(folder / "oof.csv", index=False)
    (folder / "config.json").write_text(json.dumps({"model": "bn_cnn", "folds": 2, "image_size": 64, "epochs": 3}))
    (folder / "run.json").write_text(json.dumps({"competition": "pets", "competition_file": str(folder / "gone.toml"),
                                                 "data_dir": str(folder / "gone")}))
    (folder / "scores.json").write_text(json.dumps({"metric": "log_loss", "oof_score": 0.4, "oof_accuracy": 0.8,
                                                    "folds": {"0": 0.4, "1": 0.4}, "n_oof": 40}))
    for k in (0, 1):
        (folder / f"fold_{k}").mkdir()
        (folder / f"fold_{k}" / "result.json").write_text(json.dumps({"fold": k, "score": 0.4, "accuracy": 0.8, "seconds": 3}))
        (folder / f"fold_{k}" / "history.csv").write_text(
            "epoch,accuracy,loss,val_accuracy,val_loss\n0,0.6,0.7,0.6,0.68\n1,0.7,0.6,0.75,0.5\n2,0.8,0.5,0.7,0.55\n")
    return folder


def test_report_of_two_classes_without_the_images(workdir, cli):
    run = _binary_run(workdir / "binary")
    code, out, err = cli("report", run)
    assert code == 0, err
    assert "training images not found" in err  # wrong.png still drawn, with ids only
    check_figures(run / "report")


def test_runs_table_and_submissions(trained, workdir, cli):
    from kagglekit.runs.folder import RunFolder, record_submission, run_dir_of
    from kagglekit.runs.listing import find_runs

    import shutil

    home, shared, _ = trained
    shutil.copytree(home / "runs", workdir / "runs")  # the shared run is read-only: record submissions on a copy
    home, run = workdir, workdir / shared.relative_to(home)
    code, out, err = cli("runs", "--root", home / "runs")
    assert code == 0, err
    assert run.name in out and "2/2" in out and "log_loss" in out and " no " in out
    [summary] = find_runs("demo-digits", home / "runs")
    assert summary.complete and summary.seconds > 0 and summary.public_score is None
    assert run_dir_of(run / "submission.csv") == run.resolve()
    record_submission(RunFolder(run), run / "submission.csv", "first try", ref="s1")
    record_submission(RunFolder(run), run / "submission.csv", ref="s1", status="complete", public_score=0.1234)
    assert json.loads((run / "submissions.json").read_text())[0]["message"] == "first try"
    code, out, _ = cli("runs", "-c", "demo-digits", "--root", home / "runs")
    assert code == 0 and "0.12340" in out
    code, out, _ = cli("runs", "-c", "other")
    assert code == 0 and "no runs under runs/other" in out


def test_preview(trained, workdir, cli):
    home, _, _ = trained
    data = home / "data" / "demo-digits"
    code, out, err = cli("preview", "-c", "demo-digits", "--data-dir", data, "--n", "6", "--image-size", "16",
                         "--out", "grid.png")
    assert code == 0, err
    assert "preview: grid.png" in out
    with Image.open(workdir / "grid.png") as im:
        assert im.size == (1200, 2 * 170 + 50)  # 4 pairs a row, 2 rows
    code, _, err = cli("preview", "-c", "demo-digits", "--data-dir", data, "--n", "3", "--quiet")
    assert code == 0 and err == ""
    with Image.open(workdir / "preview-demo-digits-shift.png") as im:
        assert im.size == (900, 220)


@pytest.mark.parametrize("args, message", [(["--augment", "rainbow"], "unknown augmentation 'rainbow'"),
                                           (["--n", "0"], "--n must be at least 1")])
def test_preview_bad_input(trained, workdir, cli, args, message):
    code, _, err = cli("preview", "-c", "demo-digits", "--data-dir", trained[0] / "data" / "demo-digits", *args)
    assert code == 1 and message in err
    assert not list(workdir.glob("*.png"))


def test_preview_shows_what_the_network_gets(trained):
    from kagglekit.competition.definition import load_competition
    from kagglekit.data.catalog import build_train_table
    from kagglekit.data.preview import augmented_samples

    table = build_train_table(load_competition("demo-digits"), trained[0] / "data" / "demo-digits")
    paths = list(table["path"][:4])
    loaded, same = augmented_samples(paths, 16, "none")
    assert loaded.shape == (4, 16, 16, 3) and loaded.dtype == "uint8" and (loaded == same).all()
    _, moved = augmented_samples(paths, 16, "shift")
    assert (moved != loaded).any()
