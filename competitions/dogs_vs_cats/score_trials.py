"""Score ablation trials: accuracy and log loss, each with its standard error, over the OOF photos of folds 0-1.

Usage: python competitions/dogs_vs_cats/score_trials.py runs/ablation/NAME [...]
Scores and their SEs: see scoring.py.
"""

import sys
from pathlib import Path

import pandas as pd
from scoring import score

for run in sys.argv[1:]:
    tables = [pd.read_csv(p) for p in sorted(Path(run).glob("fold_*/oof.csv"))]
    if not tables:
        print(f"{run}: no finished fold")
        continue
    oof = pd.concat(tables)
    print(f"{Path(run).name}: folds {sorted(oof['fold'].unique().tolist())}, n {len(oof)}, {score(oof['label'], oof['p_dog'])}")
