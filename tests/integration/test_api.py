"""The public Python API, as a notebook uses it: a whole run against the sandbox, without the CLI."""

from __future__ import annotations

import keras
import pandas as pd
import pytest
from kernel_fixtures import sklearn_log_loss

import kagglekit as kk

DEMO = "demo-digits"


class CountEpochs(keras.callbacks.Callback):
    """A user's own callback: it sees every epoch of every fold."""

    def __init__(self):
        super().__init__()
        self.epochs = 0

    def on_epoch_end(self, epoch, logs=None):
        self.epochs += 1


def test_a_whole_run_through_the_python_api(workdir, sandbox):
    comp = kk.load_competition(DEMO)
    fetched = kk.fetch(comp)
    assert fetched.downloaded and (fetched.data_dir / "train_labels.csv").is_file()

    counter = CountEpochs()
    run = kk.train(comp, folds=2, epochs=2, sample=60, image_size=16, model="bn_cnn_small", tta=1,
                   callbacks=[counter])
    assert counter.epochs == 2 * 2  # two folds of two epochs
    assert run.scores["n_oof"] == 60 and sorted(run.scores["folds"]) == ["0", "1"]
    assert (run.run_dir / "fold_1" / "result.json").is_file()

    submission = kk.predict(run.run_dir)
    sample = pd.read_csv(fetched.data_dir / "sample_submission.csv", dtype=str)
    assert list(submission.columns) == list(sample.columns) and list(submission["id"]) == list(sample["id"])
    assert not (run.run_dir / "submission.csv").exists()  # predict returns the table; writing is asked for

    path = kk.write_submission(submission, run.run_dir / "submission.csv", comp)
    result = kk.submit(path, "from a notebook", comp, wait=True)
    assert result.status == "complete"
    assert float(result.public_score) == pytest.approx(sklearn_log_loss(path, sandbox.bundles[DEMO].solution), abs=1e-5)


def test_bad_input_raises_the_one_error_type(workdir):
    with pytest.raises(kk.KagglekitError, match="unknown model 'vgg99'"):
        kk.train(DEMO, model="vgg99")
    with pytest.raises(kk.KagglekitError, match="unknown training setting 'epoch'"):
        kk.train(DEMO, epoch=3)
    broken = pd.DataFrame({"id": ["1"], "0": ["0.5"]})
    with pytest.raises(kk.KagglekitError):
        kk.write_submission(broken, workdir / "sub.csv", DEMO)
    assert not (workdir / "sub.csv").exists()
