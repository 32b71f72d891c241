"""Score runs on test1: each ensemble's probabilities on the 1,000 shared test photos against solution.csv.

Usage: python competitions/dogs_vs_cats/score_test.py RUN_DIR [RUN_DIR_B] [--data-dir DATA_DIR]
       (DATA_DIR: ../shared/data/dogs-vs-cats; a second argument that is not a run folder is taken as DATA_DIR)
Accuracy (of the label the submission writes, p_dog > 0.5) and log loss (of the probabilities) come from
scikit-learn; accuracy's SE is sqrt(p(1-p)/n), log loss's the standard deviation of the per-image losses over sqrt(n).
With two runs, it also prints A minus B paired over the same photos: the mean of the per-image differences
(correct or not, log loss) and its standard error.
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, log_loss

from kagglekit.competition.definition import load_competition
from kagglekit.data.catalog import build_catalog
from kagglekit.prediction.predict import predict_test

args = sys.argv[1:]
data_dir = Path("../shared/data/dogs-vs-cats")
if "--data-dir" in args:
    at = args.index("--data-dir")
    data_dir, args = Path(args[at + 1]), args[:at] + args[at + 2 :]
elif len(args) == 2 and not (Path(args[1]) / "run.json").exists():
    data_dir, args = Path(args[1]), args[:1]
if not 1 <= len(args) <= 2:
    sys.exit(__doc__.splitlines()[2])
catalog = build_catalog(load_competition("dogs-vs-cats"), data_dir)
solution = pd.read_csv(data_dir / "solution.csv")
per_image = []
for run_dir in map(Path, args):
    ids, proba, folds, plan = predict_test(run_dir, catalog)
    predicted = pd.DataFrame({"id": [int(Path(str(i)).stem) for i in ids], "p_dog": proba[:, 1]})
    scored = solution.merge(predicted, on="id", validate="one_to_one").sort_values("id")
    if len(scored) != len(predicted):
        sys.exit(f"solution.csv matched {len(scored)} of {len(predicted)} test images")
    y, p = scored["label"].to_numpy(), scored["p_dog"].clip(1e-7, 1 - 1e-7).to_numpy()
    acc, loss = accuracy_score(y, p > 0.5), log_loss(y, p, labels=[0, 1])
    losses = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    n = len(scored)
    per_image.append((scored["id"].to_numpy(), ((p > 0.5) == y).astype(float), losses))
    print(f"{run_dir}: test1 n {n}, folds {folds}, views {plan['views']}: accuracy {acc:.4f} +- "
          f"{np.sqrt(acc * (1 - acc) / n):.4f}, log loss {loss:.4f} +- {losses.std(ddof=1) / np.sqrt(n):.4f}")
if len(per_image) == 2:
    (ids_a, correct_a, loss_a), (ids_b, correct_b, loss_b) = per_image
    if not np.array_equal(ids_a, ids_b):
        sys.exit("the two runs predicted different test images: nothing to pair")
    for name, diff in (("accuracy", correct_a - correct_b), ("log loss", loss_a - loss_b)):
        se = diff.std(ddof=1) / np.sqrt(len(diff))
        print(f"{name}, {args[0]} minus {args[1]}: {diff.mean():+.4f} +- {se:.4f} (paired, {abs(diff.mean()) / se:.1f} SE)")
