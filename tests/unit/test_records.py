"""The run folder's records: typed, checked field by field on load, saved atomically; a damaged one is one line."""

import json

import numpy as np
import pytest

from kagglekit.core.config import TrainConfig
from kagglekit.core.errors import KagglekitError

CLASSES = [str(d) for d in range(10)]


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory):
    """The demo competition's files, written once for the module."""
    from kagglekit.competition.demo import write_demo_competition

    return write_demo_competition(tmp_path_factory.mktemp("records") / "demo-digits")


@pytest.fixture
def run(workdir, demo_data):
    """A hand-made run folder of the demo (one finished fold, no model), as `train` lays it out."""
    (workdir / "data").mkdir()
    (workdir / "data" / "demo-digits").symlink_to(demo_data, target_is_directory=True)
    folder = workdir / "runs" / "demo-digits" / "r"
    (folder / "fold_0").mkdir(parents=True)
    config = {"folds": 2, "model": "bn_cnn_small", "image_size": 16, "tta": 2}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "run.json").write_text(json.dumps({"competition": "demo-digits", "competition_file": "demo-digits",
                                                 "data_dir": str(workdir / "data" / "demo-digits")}))
    (folder / "folds.csv").write_text("id,fold\n00001,0\n00002,1\n")
    (folder / "fold_0" / "result.json").write_text(json.dumps({"fold": 0, "score": 0.5, "accuracy": 0.5, "metric": "accuracy",
                                                               "seconds": 3.0, "settings": config}))
    oof = "id,fold,label," + ",".join(f"p_{c}" for c in CLASSES) + "\n" + "00001,0,3," + ",".join(["0.1"] * 10) + "\n"
    (folder / "fold_0" / "oof.csv").write_text(oof)
    (folder / "oof.csv").write_text(oof)
    return folder


def _edit(path, **changes):
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def _one_line(cli, *args) -> str:
    code, _, err = cli(*args)
    assert code == 1 and len(err.strip().splitlines()) == 1, (args, err)
    return err


# -- the damaged cases of issue 24, each one line through the command the user runs ----------------------
# Each of these ended in a traceback before the records were typed (checked against 804c33d: see the
# note of the commit that added them).

def test_a_word_for_the_image_size_is_one_line(run, cli):
    _edit(run / "config.json", image_size="big")
    err = _one_line(cli, "predict", "--run-dir", run)
    assert "config.json: image_size must be a whole number, got 'big'" in err and "delete the run" in err


def test_a_string_tta_is_one_line(run, cli):
    _edit(run / "config.json", tta="2")
    err = _one_line(cli, "predict", "--run-dir", run)
    assert "config.json: tta must be a whole number, got '2'" in err


def test_a_number_as_the_competition_file_is_one_line(run, cli):
    _edit(run / "run.json", competition_file=3)
    err = _one_line(cli, "predict", "--run-dir", run)
    assert "run.json: competition_file must be a string, got 3" in err


def test_report_on_an_oof_table_pandas_cannot_parse_is_one_line(run, cli):
    (run / "oof.csv").write_text("id,fold,label,p_0\n00001,0,3,0.5\n00002,1,4,0.5,0.7,0.1\n")
    err = _one_line(cli, "report", run)
    assert "oof.csv is damaged (Error tokenizing data" in err and "rebuilds it" in err


def test_report_on_a_result_with_a_word_for_its_score_is_one_line(run, cli):
    _edit(run / "fold_0" / "result.json", score="high")
    err = _one_line(cli, "report", run)
    assert "result.json: score must be a number, got 'high'" in err and "--fold 0" in err


def test_an_oof_table_with_words_for_probabilities_is_one_line(run, cli):
    (run / "oof.csv").write_text((run / "oof.csv").read_text().replace("0.1\n", "lots\n"))
    err = _one_line(cli, "report", run)
    assert "oof.csv: column p_9 must hold numbers, got 'lots'" in err


@pytest.mark.parametrize("damaged", ["config.json", "run.json", "fold_0/result.json"])
@pytest.mark.parametrize("text", ["", '{"folds": 2, "mod', "[1, 2]"])
def test_empty_and_truncated_records_keep_their_one_line(run, cli, damaged, text):
    (run / damaged).write_text(text)
    err = _one_line(cli, "report", run)
    assert f"{damaged.split('/')[-1]} is damaged" in err


def test_the_runs_table_names_a_damaged_record_and_carries_on(run, cli, workdir):
    _edit(run / "config.json", image_size="big")
    code, out, _ = cli("runs", "--root", workdir / "runs")
    assert code == 0 and "image_size must be a whole number" in out and "demo-digits/r" in out


# -- the records themselves ----------------------------------------------------------------------------

def test_records_round_trip(tmp_path):
    from kagglekit.runs.records import FoldResult, OofTable, RunRecord, load_config, save_config

    config = TrainConfig(image_size=24, budget=90.0, sample=40)
    save_config(tmp_path / "config.json", config)
    assert load_config(tmp_path / "config.json") == config
    record = RunRecord(competition="demo-digits", versions={"keras": "3.13"}, kernel_version=2,
                       extra={"written_by_a_newer_version": [1]})
    record.save(tmp_path / "run.json")
    assert RunRecord.load(tmp_path / "run.json") == record
    assert json.loads((tmp_path / "run.json").read_text())["written_by_a_newer_version"] == [1]  # kept as it was
    result = FoldResult(fold=1, score=0.25, accuracy=0.9, metric="log_loss", best_epoch=3, epochs_run=4, seconds=2.5, settings={"tta": 2})
    result.save(tmp_path / "result.json")
    assert FoldResult.load(tmp_path / "result.json", 1) == result
    proba = np.random.default_rng(0).dirichlet(np.ones(3), size=5)
    oof = OofTable.from_predictions([f"{i:05d}" for i in range(5)], 1, [0, 1, 2, 0, 1], proba, ["cat", "dog", "3"])
    oof.save(tmp_path / "oof.csv")
    back = OofTable.load(tmp_path / "oof.csv", "retrain")
    assert back.classes == ["cat", "dog", "3"] and list(back.frame["id"]) == ["00000", "00001", "00002", "00003", "00004"]
    np.testing.assert_allclose(back.proba(["dog", "cat", "3"]), proba[:, [1, 0, 2]])
    assert not list(tmp_path.glob("*.partial"))  # written through core/atomic


def test_records_refuse_what_they_cannot_hold(tmp_path):
    from kagglekit.runs.records import FoldResult, OofTable, RunRecord, load_config

    (tmp_path / "config.json").write_text('{"image_size": true}')
    with pytest.raises(KagglekitError, match="image_size must be a whole number, got True"):
        load_config(tmp_path / "config.json")
    (tmp_path / "config.json").write_text('{"learning_rate": 1, "budget": null, "added_later": 3}')
    assert load_config(tmp_path / "config.json").learning_rate == 1.0  # an integer is a number; unknown keys ignored
    (tmp_path / "run.json").write_text('{"versions": "3.13"}')
    with pytest.raises(KagglekitError, match="versions must be an object, got '3.13'"):
        RunRecord.load(tmp_path / "run.json")
    (tmp_path / "result.json").write_text('{"score": 0.5}')
    with pytest.raises(KagglekitError, match="fold is missing"):
        FoldResult.load(tmp_path / "result.json", 0)
    (tmp_path / "result.json").write_text('{"fold": 0, "score": 0.5, "accuracy": 1, "metric": "accuracy"}')
    with pytest.raises(KagglekitError, match="fold is 0, but the file is fold 1's"):
        FoldResult.load(tmp_path / "result.json", 1)
    (tmp_path / "oof.csv").write_text("id,fold,label,p_a\n1,0,x,0.5\n")
    with pytest.raises(KagglekitError, match="column label must hold whole numbers, got 'x'; retrain"):
        OofTable.load(tmp_path / "oof.csv", "retrain")
    with pytest.raises(KagglekitError, match="no column p_b"):
        OofTable.from_predictions(["1"], 0, [0], np.ones((1, 1)), ["a"]).proba(["a", "b"])

