"""Score a run on test1: the ensemble's probabilities on the 1,000 shared test photos against solution.csv.

Usage: python competitions/dogs_vs_cats/score_test.py RUN_DIR [DATA_DIR]   (DATA_DIR: ../shared/data/dogs-vs-cats)
Accuracy (of the label the submission writes, p_dog > 0.5) and log loss (of the probabilities) come from
scikit-learn; accuracy's SE is sqrt(p(1-p)/n), log loss's the standard deviation of the per-image losses over sqrt(n).
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, log_loss

from kagglekit.competition.definition import load_competition
from kagglekit.data.catalog import build_catalog
from kagglekit.prediction.predict import predict_test

run_dir = Path(sys.argv[1])
data_dir = Path(sys.argv[2] if len(sys.argv) > 2 else "../shared/data/dogs-vs-cats")
comp = load_competition("dogs-vs-cats")
ids, proba, folds, plan = predict_test(run_dir, build_catalog(comp, data_dir))
predicted = pd.DataFrame({"id": [int(Path(str(i)).stem) for i in ids], "p_dog": proba[:, 1]})
scored = pd.read_csv(data_dir / "solution.csv").merge(predicted, on="id", validate="one_to_one")
if len(scored) != len(predicted):
    sys.exit(f"solution.csv matched {len(scored)} of {len(predicted)} test images")
y, p = scored["label"].to_numpy(), scored["p_dog"].clip(1e-7, 1 - 1e-7).to_numpy()
acc, loss = accuracy_score(y, p > 0.5), log_loss(y, p, labels=[0, 1])
losses = -(y * np.log(p) + (1 - y) * np.log(1 - p))
n = len(scored)
print(f"{run_dir}: test1 n {n}, folds {folds}, views {plan['views']}: accuracy {acc:.4f} +- "
      f"{np.sqrt(acc * (1 - acc) / n):.4f}, log loss {loss:.4f} +- {losses.std(ddof=1) / np.sqrt(n):.4f}")
