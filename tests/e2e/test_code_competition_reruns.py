"""Code competitions end to end: a model trained in a kernel (or here, published as a dataset) reaches an
inference kernel, which is submitted and rerun by the sandbox on the hidden test set with the internet off.
The training is real and tiny; the expected scores are computed with scikit-learn from the sealed solution."""

from __future__ import annotations

import json

from kernel_fixtures import CODE, hidden, ids_of, sklearn_log_loss, wait_complete

TINY = ["--folds", "2", "--epochs", "1", "--image-size", "16", "--model", "bn_cnn_small", "--sample", "120",
        "--batch-size", "32"]


def test_trained_in_a_kernel_then_an_inference_kernel_is_scored_on_the_hidden_set(cli, code_env, sandbox):
    code, out, err = cli("kernel", "build", "-c", CODE, *TINY, "--name", "digits-train")
    assert code == 0, err
    assert cli("kernel", "push", "digits-train", "-q")[0] == 0
    wait_complete(cli, "digits-train")
    code, out, err = cli("kernel", "build", "-c", CODE, "--predict-from", "kaggler/digits-train", "--tta", "3")
    assert code == 0, err
    assert "inference kernel kaggler/demo-digits-code-predict (CPU, internet off)" in out and "kernel kaggler/digits-train" in out
    meta = json.loads((code_env / "kernels" / "demo-digits-code-predict" / "kernel-metadata.json").read_text())
    assert meta["kernel_sources"] == ["kaggler/digits-train"] and meta["enable_internet"] is False
    code, out, err = cli("kernel", "push", "demo-digits-code-predict", "-q")
    assert code == 0, err
    wait_complete(cli, "demo-digits-code-predict")
    public = sandbox.sessions_dir / "kernels" / "kaggler" / "demo-digits-code-predict" / "1" / "working"
    assert ids_of(public / "submission.csv") == ids_of(sandbox.bundles[CODE].folder / "sample_submission.csv")
    assert not list(public.rglob("*.keras"))  # it trained nothing and copied no model into its output
    brought = code_env / "runs" / "predicted"
    code, out, err = cli("kernel", "output", "demo-digits-code-predict", "--run-dir", brought, "-q")
    assert code == 0, err  # its settings, log and submission come home as a run folder
    assert ids_of(brought / "submission.csv") == ids_of(public / "submission.csv") and (brought / "config.json").is_file()
    assert "per 1,000 images" in (brought / "demo-digits-code-predict.log").read_text()

    code, out, err = cli("submit", "-c", CODE, "--kernel", "kaggler/demo-digits-code-predict", "-m", "hidden",
                         "--wait", "-q")
    assert code == 0, err
    [sub] = sandbox.store.submissions(CODE)
    rerun = sandbox.sessions_dir / "reruns" / str(sub["ref"])
    written = rerun / "working" / "submission.csv"
    # The rerun predicted the hidden test set it found, not the public one a cached kernel would carry.
    hidden_ids = ids_of(hidden(sandbox) / "sample_submission.csv")
    assert ids_of(written) == hidden_ids and len(hidden_ids) >= 2 * len(ids_of(public / "submission.csv"))
    assert not hidden_ids & ids_of(public / "submission.csv")
    on_hidden = sklearn_log_loss(written, hidden(sandbox) / "solution.csv")
    assert f"public score: {on_hidden:.5f}" in out and sub["public_score"] == f"{on_hidden:.5f}"
    log = (rerun / "log.txt").read_text()
    assert "(the competition's rerun)" in log and "per 1,000 images" in log
    assert "2 folds x 3 test-time views planned" in log


def test_a_run_trained_here_is_published_as_a_dataset_and_submitted_through_an_inference_kernel(
        cli, code_env, sandbox):
    data = code_env / "data" / CODE
    assert cli("fetch", "-c", CODE, "--data-dir", data, "-q")[0] == 0
    run = code_env / "runs" / "local"
    code, out, err = cli("train", "-c", CODE, "--data-dir", data, *TINY, "--run-dir", run, "--no-report", "-q")
    assert code == 0, err
    (run / "fold_0" / "backup").mkdir()  # what a killed fold leaves: never published

    # The time left decides the test-time views: one when the limit is all but gone, all asked for otherwise.
    from kagglekit.competition.definition import load_competition
    from kagglekit.data.catalog import build_test_catalog
    from kagglekit.prediction.predict import predict_test

    catalog = build_test_catalog(load_competition(CODE), data, [])
    assert predict_test(run, catalog, 3, time_left=0.001)[3]["views"] == 1
    _, proba, folds, plan = predict_test(run, catalog, 3, time_left=3600)
    assert plan["views"] == 3 and plan["images"] == 150 and folds == [0, 1] and proba.shape == (150, 10)

    code, out, err = cli("upload-run", run, "--dataset", "kaggler/digits-models", "-q")
    assert code == 0, err
    assert "created dataset kaggler/digits-models (version 1)" in out
    stored = sandbox.state_dir / "datasets" / "kaggler" / "digits-models" / "1"
    assert (stored / "fold_0" / "best.keras").read_bytes() == (run / "fold_0" / "best.keras").read_bytes()
    assert (stored / "config.json").is_file() and not (stored / "fold_0" / "backup").exists()
    code, out, err = cli("upload-run", run, "--dataset", "kaggler/digits-models", "-m", "again", "-q")
    assert code == 0, err
    assert "new version of dataset kaggler/digits-models (version 2)" in out
    assert (sandbox.state_dir / "datasets" / "kaggler" / "digits-models" / "2" / "fold_1" / "best.keras").is_file()

    code, out, err = cli("kernel", "build", "-c", CODE, "--predict-from", "kaggler/digits-models", "--name",
                         "digits-from-dataset")
    assert code == 0, err
    assert "the folds of dataset kaggler/digits-models" in out  # found on Kaggle: no kernel has that name
    assert cli("kernel", "push", "digits-from-dataset", "-q")[0] == 0
    wait_complete(cli, "digits-from-dataset")
    code, out, err = cli("submit", "-c", CODE, "--kernel", "kaggler/digits-from-dataset", "-m", "from a laptop",
                         "--wait", "-q")
    assert code == 0, err
    assert "public score:" in out
    [sub] = sandbox.store.submissions(CODE)
    written = sandbox.sessions_dir / "reruns" / str(sub["ref"]) / "working" / "submission.csv"
    assert ids_of(written) == ids_of(hidden(sandbox) / "sample_submission.csv")
