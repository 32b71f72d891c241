"""Score ablation trials: accuracy and log loss, each with its standard error, over the OOF photos of folds 0-1.

Usage: python competitions/dogs_vs_cats/score_trials.py runs/ablation/NAME [...]
Accuracy's SE is sqrt(p(1-p)/n); log loss's is the standard deviation of the per-image losses over sqrt(n).
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd

for run in sys.argv[1:]:
    tables = [pd.read_csv(p) for p in sorted(Path(run).glob("fold_*/oof.csv"))]
    if not tables:
        print(f"{run}: no finished fold")
        continue
    oof = pd.concat(tables)
    p_dog = oof["p_dog"].clip(1e-7, 1 - 1e-7).to_numpy()
    y = oof["label"].to_numpy()
    correct = (p_dog > 0.5) == (y == 1)
    losses = -(y * np.log(p_dog) + (1 - y) * np.log(1 - p_dog))
    n = len(oof)
    acc = correct.mean()
    print(f"{Path(run).name}: folds {sorted(oof['fold'].unique())}, n {n}, accuracy {acc:.4f} +- "
          f"{np.sqrt(acc * (1 - acc) / n):.4f}, log loss {losses.mean():.4f} +- {losses.std(ddof=1) / np.sqrt(n):.4f}")
