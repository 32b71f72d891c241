"""Score a trained ablation row's folds on their validation photos with different test-time views.

Usage: python competitions/dogs_vs_cats/tta_views.py runs/ablation/NAME
Prints accuracy and log loss (each +- SE) over the folds' validation photos for: 1 view, plain + mirror,
4 views with 90% zooms (tta 4), 4 and 6 views with shifts (tta_shift).
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scoring import score

from kagglekit.models.inference import predict_paths, tta_views
from kagglekit.runs.folder import RunFolder, load_fold_model

run = RunFolder(Path(sys.argv[1]))
config = run.read_config()
folds = run.finished_folds()
table = pd.read_csv(run.path / "folds.csv") if (run.path / "folds.csv").exists() else None
oof = pd.concat([pd.read_csv(run.fold(k).path / "oof.csv") for k in folds])
from kagglekit.competition.definition import load_competition
from kagglekit.data.catalog import build_catalog

catalog = build_catalog(load_competition("dogs-vs-cats"), Path("/work/shared/data/dogs-vs-cats"), with_test=False)
paths = catalog.train.set_index("id")["path"]
for name, views in [("1 view", tta_views(config.augment, 1)), ("plain + mirror", tta_views(config.augment, 2)),
                    ("4, zooms", tta_views(config.augment, 4)), ("4, shifts", tta_views(config.augment, 4, True)),
                    ("6, shifts", tta_views(config.augment, 6, True))]:
    p, y = [], []
    for k in folds:
        rows = oof[oof["fold"] == k]
        model = load_fold_model(run, k)
        p.append(predict_paths(model, list(paths[rows["id"]]), config.image_size, 64, 2, views)[:, 1])
        y.append(rows["label"].to_numpy())
    y = np.concatenate(y)
    print(f"{name}: {score(y, np.concatenate(p))} (n {len(y)})")
