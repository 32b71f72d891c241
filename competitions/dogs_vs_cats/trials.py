"""Short recipe trials on dogs-vs-cats: one fold of a sample, a fixed time budget, one variant.

    python competitions/dogs_vs_cats/trials.py VARIANT [--sample 2000] [--budget 4m] [--fold 0]

Trains fold FOLD of 5 on a stratified sample through the library (the same
code as `kagglekit train`), in runs/trials/<variant>-n<sample>-<budget>, and
appends one JSON line with the fold's scores to runs/trials/results.jsonl.
The variants are the rows of the README's table; `anchor` is the seed
course's recipe. `--tta-check` also scores the fold's validation images with
1, 2, 4 and 6 test-time views, averaged as probabilities and as logits.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

VARIANTS = {
    "anchor": dict(image_size=150, model="course_cnn", augment="course", schedule="plateau", learning_rate=1e-3),
    "bn64": dict(image_size=64, model="bn_cnn", augment="light", schedule="plateau", learning_rate=1e-3),
    "res96-1cycle": dict(image_size=96, model="res_cnn", augment="light", schedule="onecycle", learning_rate=3e-3),
    "res128-1cycle": dict(image_size=128, model="res_cnn", augment="light", schedule="onecycle", learning_rate=3e-3),
    "res96-plateau": dict(image_size=96, model="res_cnn", augment="light", schedule="plateau", learning_rate=1e-3),
    "res96-cosine-wd": dict(image_size=96, model="res_cnn", augment="light", schedule="cosine", learning_rate=2e-3,
                            warmup=0.05, weight_decay=1e-4),
    "res96-1cycle-medium": dict(image_size=96, model="res_cnn", augment="medium", schedule="onecycle", learning_rate=3e-3),
    "res96-1cycle-flip": dict(image_size=96, model="res_cnn", augment="flip", schedule="onecycle", learning_rate=3e-3),
    "res96-1cycle-ls": dict(image_size=96, model="res_cnn", augment="light", schedule="onecycle", learning_rate=3e-3,
                            label_smoothing=0.1),
    "res64-1cycle": dict(image_size=64, model="res_cnn", augment="light", schedule="onecycle", learning_rate=3e-3),
    "res64-1cycle-ls": dict(image_size=64, model="res_cnn", augment="light", schedule="onecycle", learning_rate=3e-3,
                            label_smoothing=0.1),
    "res64-1cycle-medium": dict(image_size=64, model="res_cnn", augment="medium", schedule="onecycle", learning_rate=3e-3),
    "res64-1cycle-medium-ls": dict(image_size=64, model="res_cnn", augment="medium", schedule="onecycle",
                                   learning_rate=3e-3, label_smoothing=0.1),
    "res48-1cycle-medium": dict(image_size=48, model="res_cnn", augment="medium", schedule="onecycle", learning_rate=3e-3),
    "res80-1cycle-medium": dict(image_size=80, model="res_cnn", augment="medium", schedule="onecycle", learning_rate=3e-3),
    "res64-1cycle-flip": dict(image_size=64, model="res_cnn", augment="flip", schedule="onecycle", learning_rate=3e-3),
    "res64-cosine-wd": dict(image_size=64, model="res_cnn", augment="light", schedule="cosine", learning_rate=2e-3,
                            warmup=0.05, weight_decay=1e-4),
    "res64-1cycle-flip-b16": dict(image_size=64, model="res_cnn", augment="flip", schedule="onecycle", learning_rate=2e-3,
                                  batch_size=16),
    "res64-1cycle-light-b16": dict(image_size=64, model="res_cnn", augment="light", schedule="onecycle",
                                   learning_rate=2e-3, batch_size=16),
    "res64-cosine-flip-b16": dict(image_size=64, model="res_cnn", augment="flip", schedule="cosine", learning_rate=1e-3,
                                  warmup=0.05, batch_size=16),
    "res80-1cycle-flip-b16": dict(image_size=80, model="res_cnn", augment="flip", schedule="onecycle", learning_rate=2e-3,
                                  batch_size=16),
    "res64-plateau": dict(image_size=64, model="res_cnn", augment="light", schedule="plateau", learning_rate=1e-3),
    "bn64-1cycle": dict(image_size=64, model="bn_cnn", augment="light", schedule="onecycle", learning_rate=3e-3),
}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variant", choices=sorted(VARIANTS))
    parser.add_argument("--sample", type=int, default=2000)
    parser.add_argument("--budget", default="4m")
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data/dogs-vs-cats"))
    parser.add_argument("--tta-check", action="store_true")
    args = parser.parse_args(argv)

    from kagglekit.cli.app import setup_logging
    from kagglekit.competition.definition import load_competition
    from kagglekit.core.config import parse_duration, resolve_config
    from kagglekit.data.catalog import build_catalog
    from kagglekit.training.crossval import train_folds

    setup_logging()
    started = time.time()
    comp = load_competition("dogs-vs-cats")
    config = resolve_config({}, folds=5, fold=args.fold, sample=args.sample, epochs=100,
                            budget=parse_duration(args.budget), **VARIANTS[args.variant])
    run_dir = Path("runs/trials") / f"{args.variant}-n{args.sample}-{args.budget}-f{args.fold}"
    catalog = build_catalog(comp, args.data_dir, with_test=False)
    run_dir, scores = train_folds(catalog, config, args.data_dir, run_dir, started=started)
    result = json.loads((run_dir / f"fold_{args.fold}" / "result.json").read_text())
    row = {"variant": args.variant, **VARIANTS[args.variant], "sample": args.sample, "budget": args.budget,
           "fold": args.fold, "accuracy": result["accuracy"], "log_loss": scores_log_loss(run_dir, args.fold),
           "epochs_run": result["epochs_run"], "best_epoch": result["best_epoch"],
           "seconds": round(time.time() - started, 1), "command": " ".join(["python", *sys.argv])}
    if args.tta_check:
        row["tta"] = tta_check(run_dir, catalog, config, args.fold)
    with open(Path("runs/trials/results.jsonl"), "a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row))


def scores_log_loss(run_dir: Path, fold: int) -> float:
    """The fold's validation log loss from its OOF predictions (the metric clips at 1e-15)."""
    import pandas as pd

    from kagglekit.competition.metrics import score

    oof = pd.read_csv(run_dir / f"fold_{fold}" / "oof.csv")
    return score("log_loss", oof["label"], oof[["p_cat", "p_dog"]].to_numpy())


def tta_check(run_dir: Path, catalog, config, fold: int) -> dict:
    """Validation accuracy and log loss of the fold's model with 1, 2, 4, 6 views, probability vs logit mean."""
    import numpy as np
    import pandas as pd

    from kagglekit.competition.metrics import score
    from kagglekit.models.inference import predict_paths, tta_views
    from kagglekit.runs.folder import RunFolder, load_fold_model

    folds = pd.read_csv(run_dir / "folds.csv", dtype={"id": str})
    val = catalog.train.merge(folds, on="id")
    val = val[val["fold"] == fold]
    model = load_fold_model(RunFolder(run_dir), fold)
    views = tta_views(config.augment, 6)
    per_view = [predict_paths(model, list(val["path"]), config.image_size, 64, 2, [v])[:, 1] for v in views]
    y = val["label"].to_numpy()
    out = {}
    for n in (1, 2, 4, 6):
        p = np.clip(np.stack(per_view[:n]), 1e-7, 1 - 1e-7)
        mean_p = p.mean(axis=0)
        mean_logit = 1 / (1 + np.exp(-np.log(p / (1 - p)).mean(axis=0)))
        for name, q in (("proba", mean_p), ("logit", mean_logit)):
            out[f"{n}_{name}"] = {"accuracy": score("accuracy", y, q), "log_loss": score("log_loss", y, q)}
        for lo in (0.005, 0.02):
            out[f"{n}_proba_clip{lo}"] = score("log_loss", y, np.clip(mean_p, lo, 1 - lo))
    return out


if __name__ == "__main__":
    main()
