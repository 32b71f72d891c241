"""Score runs on test1: each ensemble's probabilities on the 1,000 shared test photos against solution.csv.

Usage: python competitions/dogs_vs_cats/score_test.py RUN_DIR [RUN_DIR_B] [--data-dir DATA_DIR]
With two runs it also prints A minus B paired over the same photos. Scores and SEs: see scoring.py.
"""

import argparse
import sys
from pathlib import Path

import pandas as pd
from scoring import paired, score

from kagglekit.competition.definition import load_competition
from kagglekit.data.catalog import build_catalog
from kagglekit.prediction.predict import predict_test

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR", help="one run folder, or two to compare")
parser.add_argument("--data-dir", type=Path, default=Path("../shared/data/dogs-vs-cats"),
                    help="the competition's files and solution.csv (default: %(default)s)")
args = parser.parse_args()
if len(args.runs) > 2:
    parser.error("give one run folder, or two to compare")
catalog = build_catalog(load_competition("dogs-vs-cats"), args.data_dir)
solution = pd.read_csv(args.data_dir / "solution.csv")
scored_runs = []
for run_dir in args.runs:
    ids, proba, folds, plan = predict_test(run_dir, catalog)
    predicted = pd.DataFrame({"id": [int(Path(str(i)).stem) for i in ids], "p_dog": proba[:, 1]})
    scored = solution.merge(predicted, on="id", validate="one_to_one").sort_values("id")
    if len(scored) != len(predicted):
        sys.exit(f"solution.csv matched {len(scored)} of {len(predicted)} test images")
    scores = score(scored["label"], scored["p_dog"])
    scored_runs.append((scored["id"].to_numpy(), scores))
    print(f"{run_dir}: test1 n {len(scored)}, folds {folds}, views {plan['views']}: {scores}")
if len(scored_runs) == 2:
    (ids_a, a), (ids_b, b) = scored_runs
    if list(ids_a) != list(ids_b):
        sys.exit("the two runs predicted different test images: nothing to pair")
    print(f"{args.runs[0]} minus {args.runs[1]}, paired: {paired(a, b)}")
