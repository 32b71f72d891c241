"""The whole local path through the CLI: train, predict, validate; resume; bad input."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import accuracy_score

TINY = ["--epochs", "1", "--image-size", "32", "--model", "bn_cnn_small", "--no-report"]  # report: test_report.py


def test_dogs_vs_cats_train_predict_validate(workdir, dogs_dir, cli):
    code, out, err = cli("train", "-c", "dogs-vs-cats", "--data-dir", dogs_dir, "--folds", "2", "--epochs", "1",
                         "--image-size", "32", "--sample", "300", "--model", "bn_cnn_small", "--tta", "1", "--no-report")
    assert code == 0, err
    assert "OOF accuracy:" in out
    run = Path(out.split("run folder: ")[1].split()[0])
    scores = json.loads((run / "scores.json").read_text())
    assert scores["n_oof"] == 300 and set(scores["folds"]) == {"0", "1"}
    oof = pd.read_csv(run / "oof.csv")
    # the recorded score is the accuracy of the OOF predictions on disk (scikit-learn, called here directly)
    assert scores["oof_score"] == pytest.approx(accuracy_score(oof["label"], oof[["p_cat", "p_dog"]].to_numpy().argmax(1)))
    assert f"OOF accuracy: {scores['oof_score']:.4f}" in out  # what the user reads
    folds = pd.read_csv(run / "folds.csv")
    assert len(folds) == 300 and folds["fold"].value_counts().tolist() == [150, 150]
    assert json.loads((run / "run.json").read_text())["versions"]["tensorflow"]
    code, out, err = cli("predict", "-c", "dogs-vs-cats", "--data-dir", dogs_dir, "--run-dir", run)
    assert code == 0, err
    sub = run / "submission.csv"
    df = pd.read_csv(sub, dtype=str)
    sample = pd.read_csv(dogs_dir / "sampleSubmission.csv", dtype=str)
    assert list(df["id"]) == list(sample["id"]) and set(df["label"]) <= {"0", "1"}
    code, out, _ = cli("validate", sub, "-c", "dogs-vs-cats", "--data-dir", dogs_dir)
    assert code == 0 and "1000 rows" in out


def test_multiclass_csv_labels_class_columns(workdir, cli, trained_demo_run):
    assert "OOF log_loss:" in trained_demo_run.stdout  # demo-digits: ten classes from a CSV, scored by log loss
    shutil.copytree(trained_demo_run.home / "runs", workdir / "runs")
    shutil.copytree(trained_demo_run.home / "data", workdir / "data")
    run = workdir / trained_demo_run.run.relative_to(trained_demo_run.home)
    code, out, err = cli("predict", "-c", "demo-digits", "--run-dir", run, "--out", "sub.csv", "--tta", "1")
    assert code == 0, err
    df = pd.read_csv(workdir / "sub.csv", dtype=str)
    assert list(df.columns) == ["id"] + [str(d) for d in range(10)] and len(df) == 300
    probs = df.drop(columns="id").astype(float)
    assert probs.min().min() >= 0.001 and abs(probs.sum(axis=1) - 1).max() < 0.01
    code, _, _ = cli("validate", "sub.csv", "-c", "demo-digits")
    assert code == 0
    # a second run of the same command skips the finished folds
    code, out, err = cli(*trained_demo_run.command, "--run-dir", run, "--no-report")
    assert code == 0 and err.count("already trained; skipping") == 2 and "OOF log_loss:" in out


def test_class_per_folder_layout(folders_competition, cli, workdir):
    comp = str(folders_competition)
    code, out, err = cli("train", "-c", comp, "--data-dir", workdir / "pets", "--folds", "2", *TINY)
    assert code == 0, err
    code, out, err = cli("predict", "-c", comp, "--data-dir", workdir / "pets", "--out", "pets.csv")
    assert code == 0, err
    df = pd.read_csv(workdir / "pets.csv", dtype=str)
    assert list(df.columns) == ["id", "cat", "dog"] and len(df) == 8
    # a test image that cannot be decoded still gets its row: the class prior (12 cats, 12 dogs)
    broken = sorted((workdir / "pets" / "test").iterdir())[0]
    broken.write_bytes(broken.read_bytes()[:100])
    code, out, err = cli("predict", "-c", comp, "--data-dir", workdir / "pets", "--out", "pets.csv")
    assert code == 0 and broken.name in err
    row = pd.read_csv(workdir / "pets.csv", dtype=str).set_index("id").loc[broken.stem]
    assert row.astype(float).tolist() == [0.5, 0.5]
    # a damaged model file is reported, never used, and the old submission stays as it was
    before = (workdir / "pets.csv").read_text()
    run = next((workdir / "runs" / "pets-folders").iterdir())
    (run / "fold_1" / "best.keras").write_bytes(b"not a model")
    code, _, err = cli("predict", "-c", comp, "--data-dir", workdir / "pets", "--out", "pets.csv")
    assert code == 1 and "best.keras cannot be loaded" in err and "retrain" in err
    assert (workdir / "pets.csv").read_text() == before


def test_damaged_backup_restarts_the_fold(workdir, cli):
    # What a crash in the middle of writing BackupAndRestore's state leaves: its record, and weights files
    # that no longer load (both copies). The fold must restart from its first epoch, not fail or resume.
    backup = workdir / "run" / "fold_0" / "backup"
    backup.mkdir(parents=True)
    (backup / "training_metadata.json").write_text(json.dumps({"epoch": 2, "batch": -1}))
    for name in ("latest.weights.h5", "latest.weights.h5.bkp"):
        (backup / name).write_bytes(b"half a file")
    code, out, err = cli("train", "-c", "demo-digits", "--folds", "2", "--fold", "0", "--epochs", "2",
                         "--sample", "120", "--image-size", "16", "--model", "bn_cnn_small", "--run-dir", "run")
    assert code == 0, err
    assert "backup" in err and "damaged; restarting the fold" in err and "resuming" not in err
    history = pd.read_csv(workdir / "run" / "fold_0" / "history.csv")
    assert list(history["epoch"]) == [0, 1]  # trained from its first epoch
    assert (workdir / "run" / "fold_0" / "result.json").is_file() and not backup.exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--folds", "3", "--fold", "3"], "--fold 3 is out of range"),
        (["--folds", "0"], "--folds 0 is too few"),
        (["--model", "vgg99"], "unknown model 'vgg99'"),
        (["--augment", "rainbow"], "unknown augmentation 'rainbow'"),
        (["--model", "course_cnn", "--image-size", "32"], "needs --image-size 62"),
        (["--sample", "3"], "--sample 3 is too small"),
        (["--folds", "1", "--sample", "4"], "--sample 4 is too small for 10 classes and --folds 1; use --sample 20"),
        (["--folds", "2", "--sample", "12"], "--sample 12 is too small for 10 classes and --folds 2; use --sample 20"),
        (["--data-dir", "nowhere"], "data folder nowhere does not exist"),
    ],
)
def test_train_bad_input(workdir, cli, args, message):
    code, _, err = cli("train", "-c", "demo-digits", *args)
    assert code == 1 and message in err and len(err.strip().splitlines()) == 1
    assert not (workdir / "runs").exists()


def test_one_fold_is_one_model_validated_on_a_stratified_fifth(workdir, cli):
    """--folds 1: one model on 80% of the images, its OOF score from the 20% it never trained on."""
    code, out, err = cli("train", "-c", "demo-digits", "--folds", "1", "--sample", "100", "--epochs", "1",
                         "--image-size", "8", "--model", "bn_cnn_small", "--tta", "1", "--no-report", "--run-dir", "one")
    assert code == 0, err
    folds = pd.read_csv(workdir / "one" / "folds.csv")
    assert sorted(folds["fold"].unique()) == [-1, 0] and (folds["fold"] == 0).sum() == 20
    oof = pd.read_csv(workdir / "one" / "oof.csv")
    assert sorted(oof["id"]) == sorted(folds.loc[folds["fold"] == 0, "id"])  # scored only on the holdout
    assert sorted(p.name for p in (workdir / "one").glob("fold_*")) == ["fold_0"]
    code, out, err = cli("predict", "-c", "demo-digits", "--run-dir", "one", "--out", "sub.csv")
    assert code == 0, err
    assert "folds [0]" in out


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


ONE_RUN = ["-c", "demo-digits", "--folds", "2", "--sample", "60", "--run-dir", "r", "--epochs", "1",
        "--image-size", "16", "--model", "bn_cnn_small", "--tta", "1", "--no-report"]


def test_resume_refuses_every_changed_setting_and_changes_nothing(workdir, cli):
    code, _, err = cli("train", *ONE_RUN, "--fold", "0")
    assert code == 0, err
    before = _snapshot(workdir / "r")
    result = json.loads((workdir / "r" / "fold_0" / "result.json").read_text())
    assert result["settings"]["learning_rate"] == 0.001 and result["settings"]["epochs"] == 1
    code, _, err = cli("train", *ONE_RUN, "--fold", "1", "--learning-rate", "0.01")
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "learning_rate 0.001 (now 0.01)" in err and "--run-dir" in err and "old value" in err
    code, _, err = cli("train", *ONE_RUN, "--schedule", "cosine", "--label-smoothing", "0.1", "--weight-decay", "0.0001")
    assert code == 1 and "schedule 'plateau' (now 'cosine')" in err and "label_smoothing 0.0 (now 0.1)" in err
    assert "weight_decay 0.0 (now 0.0001)" in err
    assert _snapshot(workdir / "r") == before  # nothing in the folder changed
    # How long and how many views may change: a higher --epochs resumes with fold 1.
    code, out, err = cli("train", *ONE_RUN, "--epochs", "2", "--tta", "2")
    assert code == 0, err
    assert "fold 1/2 already trained" in err and "fold 2/2: 30 training" in err  # fold 0 kept, fold 1 trained
    assert json.loads((workdir / "r" / "fold_1" / "result.json").read_text())["settings"]["epochs"] == 2
    assert (workdir / "r" / "fold_0" / "result.json").read_bytes() == before["fold_0/result.json"][0]


def test_predict_errors_leave_no_file(workdir, cli):
    code, _, err = cli("predict", "-c", "demo-digits")
    assert code == 1 and "no finished run of demo-digits" in err
    code, _, err = cli("predict", "-c", "demo-digits", "--run-dir", "nowhere")
    assert code == 1 and "not a kagglekit run folder" in err
    code, _, err = cli("predict", "-c", "demo-digits", "--tta", "0")
    assert code == 1 and "--tta must be at least 1" in err
    assert not list(workdir.rglob("submission.csv"))


def test_help_does_not_import_tensorflow():
    code = "import sys; from kagglekit.cli import app; sys.argv=['kagglekit','--help']\n" \
           "try:\n    app()\nexcept SystemExit:\n    pass\nprint('TF' if 'tensorflow' in sys.modules else 'NO-TF')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert "train" in out and out.strip().endswith("NO-TF")


@pytest.mark.parametrize(
    "spoil, message",
    [
        (lambda d: shutil.copy(d / "train" / "00400.png", d / "train" / "00400.jpeg"), "used by more than one file"),
        (lambda d: (d / "train_labels.csv").write_text("id,label\n"), "have no row in train_labels.csv"),
        (lambda d: (d / "test" / "00003.png").unlink(), "test ids of the sample submission have no image"),
        (lambda d: (d / "sample_submission.csv").unlink(), "sample submission"),
    ],
)
def test_data_problems_stop_before_training(workdir, cli, spoil, message):
    from kagglekit.competition.demo import write_demo_competition

    data = write_demo_competition(workdir / "data" / "demo-digits")
    spoil(data)
    code, _, err = cli("train", "-c", "demo-digits", "--folds", "2", *ONE_RUN)
    assert code == 1 and message in err and len(err.strip().splitlines()) == 1
    assert not list(workdir.rglob("submission.csv")) and not list(workdir.rglob("best.keras"))


@pytest.mark.parametrize("damaged", ["config.json", "run.json"])
def test_a_damaged_run_record_is_one_line_everywhere(workdir, cli, damaged):
    run = workdir / "runs" / "demo-digits" / "r"
    (run / "fold_0").mkdir(parents=True)
    (run / "config.json").write_text('{"folds": 2, "model": "bn_cnn_small", "image_size": 16}')
    (run / "run.json").write_text('{"competition": "demo-digits"}')
    (run / "folds.csv").write_text("id,fold\n")
    (run / "fold_0" / "result.json").write_text('{"fold": 0}')
    (run / "oof.csv").write_text("id,fold,label," + ",".join(f"p_{d}" for d in range(10)) + "\n"
                                 "00001,0,3," + ",".join(["0.1"] * 10) + "\n")
    (run / damaged).write_text('{"folds": 2, "mod')  # cut off mid-write by an older version, or by hand
    for args in (["predict", "--run-dir", run], ["report", run], ["ensemble", run, "--out", workdir / "m"]):
        code, _, err = cli(*args)
        assert code == 1 and f"{damaged} is damaged" in err and len(err.strip().splitlines()) == 1, (args, err)
    code, out, err = cli("runs", "--root", workdir / "runs")  # the listing carries on past a damaged run
    assert code == 0, err


def test_tensorflow_start_up_lines_stay_off_the_terminal(workdir):
    from kagglekit.cli.native_stderr import is_native_log_line

    assert is_native_log_line(b"I0000 00:00:1796093490.837453   18128 cudart_stub.cc:31] Could not find cuda drivers")
    assert is_native_log_line(b"E0000 00:00:1796093460.087183   17939 cuda_platform.cc:52] failed call to cuInit")
    assert is_native_log_line(b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR")
    assert not is_native_log_line(b"error: unknown model 'vgg99'; valid models: ...")
    args = [sys.executable, "-m", "kagglekit", "explain-model", "--model", "bn_cnn_small", "--image-size", "32"]
    quiet = subprocess.run(args, cwd=workdir, capture_output=True, text=True, timeout=300)
    assert quiet.returncode == 0 and "bn_cnn_small on 32x32x3" in quiet.stdout
    assert not [line for line in quiet.stderr.splitlines() if is_native_log_line(line.encode())], quiet.stderr
    bad = subprocess.run([*args[:3], "train", "-c", "demo-digits", "--model", "vgg99"], cwd=workdir,
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and "unknown model 'vgg99'" in bad.stderr  # kagglekit's own errors still show


def test_a_fold_trains_and_predicts_with_every_fast_training_setting(workdir, cli):
    import keras

    code, out, err = cli("train", "-c", "demo-digits", "--folds", "2", "--fold", "0", "--epochs", "1", "--image-size",
                         "8", "--model", "bn_cnn_small", "--sample", "40", "--augment", "flip", "--ema", "0.9",
                         "--alternating-flip", "--whitening-stem", "--no-bn-scale", "--width", "1.5",
                         "--label-smoothing", "0.1", "--tta", "4", "--tta-shift", "--no-report", "--run-dir", "r")
    assert code == 0, err
    model = keras.models.load_model(workdir / "r" / "fold_0" / "best.keras", compile=False)
    assert not model.get_layer("whitening_stem").trainable
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert bns and all(layer.gamma is None for layer in bns)
    assert [layer.filters for layer in model.layers if isinstance(layer, keras.layers.Conv2D)][1] == 24
    code, out, err = cli("predict", "-c", "demo-digits", "--run-dir", "r", "--out", "sub.csv")
    assert code == 0, err


HOLD_FOLD = """
import sys, time
from kagglekit.core.locks import hold
from kagglekit.runs.folder import RunFolder
with hold(RunFolder(sys.argv[1]).fold(0).lock, "fold 0"):
    print("held", flush=True)
    time.sleep(120)
"""


def test_a_fold_being_trained_elsewhere_is_refused_in_one_line_and_taken_over_once_its_holder_dies(workdir, cli):
    import signal
    import subprocess
    import sys

    args = ["train", "-c", "demo-digits", "--folds", "2", "--fold", "0", "--epochs", "1", "--sample", "60",
            "--image-size", "16", "--model", "bn_cnn_small", "--run-dir", "run", "--no-report"]
    holder = subprocess.Popen([sys.executable, "-c", HOLD_FOLD, str(workdir / "run")], stdout=subprocess.PIPE,
                              text=True)  # stands in for a `train --fold 0` that is training the fold
    assert holder.stdout.readline().strip() == "held"
    code, out, err = cli(*args, "--quiet")
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"in use by process {holder.pid} (started 20" in lines[0], err
    assert not (workdir / "run" / "fold_0" / "history.csv").exists()  # nothing trained
    holder.send_signal(signal.SIGKILL)  # its lock is left behind, and taken over
    holder.wait()
    code, out, err = cli(*args)
    assert code == 0, err
    assert (workdir / "run" / "fold_0" / "result.json").is_file()
    header = (workdir / "run" / "fold_0" / "history.csv").read_text().splitlines()[0]
    assert (workdir / "run" / "fold_0" / "history.csv").read_text().count(header) == 1
