"""A run's OOF table: the finished folds' out-of-fold predictions gathered into one table and scored."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from kagglekit.competition.definition import Competition
from kagglekit.competition.metrics import score
from kagglekit.runs.folder import RunFolder


def collect_oof(run_dir: Path, comp: Competition) -> dict:
    """Gather the finished folds' OOF predictions into the run's OOF table and score them."""
    run = RunFolder(run_dir)
    parts = run.fold_oof_tables()
    if not parts:
        return {}
    oof = pd.concat(parts, ignore_index=True).sort_values(["fold", "id"]).reset_index(drop=True)
    proba = oof[[f"p_{c}" for c in comp.labels.classes]].to_numpy()
    results = run.results()
    scores = {
        "metric": comp.metric,
        "oof_score": score(comp.metric, oof["label"], proba),
        "oof_accuracy": score("accuracy", oof["label"], proba),
        "folds": {str(r["fold"]): r["score"] for r in results},
        "n_oof": len(oof),
        "train_seconds": round(sum(r.get("seconds", 0.0) for r in results), 1),
    }
    run.write_oof(oof, scores)
    return scores
