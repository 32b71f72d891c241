"""The sandbox's scorer (predict.submission.score_submission) against values worked out by hand.

A fixed 10-row submission of P(class 1) against a fixed solution, scored as an accuracy, a log loss and an
ROC AUC competition would score it. The expected values are computed here by hand, not by any library:
  labels       1   0   1   1   0   0   1   0   1   0
  P(class 1)  .9  .2  .8  .6  .4  .1  .3  .6  .7  .3
  accuracy  8 of 10 on the right side of 0.5 (row 7, a 1 at .3, and row 8, a 0 at .6, are wrong) = 0.8
  log loss  -(ln .9 + ln .8 + ln .8 + ln .6 + ln .6 + ln .9 + ln .3 + ln .4 + ln .7 + ln .7) / 10 = 0.4512272...
  AUC       of the 25 (positive, negative) pairs, 21 ranked right and 2 ties (.6/.6, .3/.3): 22/25 = 0.88
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from kagglekit.competition.definition import parse_competition
from kagglekit.prediction.submission import score_submission

LABELS = [1, 0, 1, 1, 0, 0, 1, 0, 1, 0]
P_ONE = [0.9, 0.2, 0.8, 0.6, 0.4, 0.1, 0.3, 0.6, 0.7, 0.3]
LOG_LOSS = -sum(map(math.log, [0.9, 0.8, 0.8, 0.6, 0.6, 0.9, 0.3, 0.4, 0.7, 0.7])) / 10


def competition(metric: str):
    return parse_competition({
        "slug": f"scored-by-{metric.replace('_', '-')}", "metric": metric,
        "files": {"train": "train", "test": "test", "sample_submission": "sample.csv"},
        "labels": {"source": "filename", "pattern": r"^(?P<label>a|b)\.", "classes": ["a", "b"]},
        "submission": {"kind": "probability", "id_column": "id", "label_column": "label"},
    })


@pytest.mark.parametrize("metric, expected", [("accuracy", 0.8), ("log_loss", LOG_LOSS), ("roc_auc", 0.88)])
def test_a_fixed_submission_scores_what_was_worked_out_by_hand(metric, expected):
    assert LOG_LOSS == pytest.approx(0.4512272, abs=1e-7)
    ids = [str(i) for i in range(1, 11)]
    solution = pd.DataFrame({"id": ids, "label": [str(y) for y in LABELS]})
    submission = pd.DataFrame({"id": list(reversed(ids)), "label": [str(p) for p in reversed(P_ONE)]})  # any row order
    assert score_submission(competition(metric), submission, solution) == pytest.approx(expected, abs=1e-9)
