"""A run's OOF table: the finished folds' out-of-fold predictions gathered into one table and scored."""

from __future__ import annotations

from pathlib import Path

from kagglekit.competition.definition import Competition
from kagglekit.competition.metrics import score
from kagglekit.runs.folder import RunFolder
from kagglekit.runs.records import OofTable


def collect_oof(run_dir: Path, comp: Competition) -> dict:
    """Gather the finished folds' OOF predictions into the run's OOF table and score them."""
    run = RunFolder(run_dir)
    parts = run.fold_oof_tables()
    if not parts:
        return {}
    oof = OofTable.concat(parts)
    proba = oof.proba(comp.labels.classes)
    results = run.results()
    scores = {
        "metric": comp.metric,
        "oof_score": score(comp.metric, oof.labels, proba),
        "oof_accuracy": score("accuracy", oof.labels, proba),
        "folds": {str(r.fold): r.score for r in results},
        "n_oof": len(oof),
        "train_seconds": round(sum(r.seconds for r in results), 1),
    }
    run.write_oof(oof, scores)
    return scores
