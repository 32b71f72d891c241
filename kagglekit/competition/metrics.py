"""Competition metrics, by name, computed with scikit-learn.

Every metric takes the true class indices (n,) and the predicted class
probabilities (n, n_classes), so that OOF scores and the sandbox's scoring of
submissions go through the same code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from kagglekit.core.errors import KagglekitError


@dataclass(frozen=True)
class Metric:
    """A named metric, whether a larger value is better, and the name Kaggle's competition record gives it."""

    name: str
    fn: Callable[[np.ndarray, np.ndarray], float]
    greater_is_better: bool
    kaggle_name: str = ""


def _accuracy(y_true: np.ndarray, proba: np.ndarray) -> float:
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(y_true, proba.argmax(axis=1)))


def _log_loss(y_true: np.ndarray, proba: np.ndarray) -> float:
    from sklearn.metrics import log_loss

    proba = np.clip(proba, 1e-15, 1 - 1e-15)
    proba = proba / proba.sum(axis=1, keepdims=True)
    return float(log_loss(y_true, proba, labels=list(range(proba.shape[1]))))


def _roc_auc(y_true: np.ndarray, proba: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if len(np.unique(y_true)) < 2:
        return float("nan")  # undefined on one class; a tiny fold can hit this
    if proba.shape[1] == 2:
        return float(roc_auc_score(y_true, proba[:, 1]))
    return float(roc_auc_score(y_true, proba, multi_class="ovr", labels=list(range(proba.shape[1]))))


_METRICS = {
    m.name: m
    for m in (
        Metric("accuracy", _accuracy, True, "Categorization Accuracy"),
        Metric("log_loss", _log_loss, False, "Log Loss"),
        Metric("roc_auc", _roc_auc, True, "Area Under Receiver Operating Characteristic Curve"),
    )
}


def list_metrics() -> list[str]:
    """Names of the metrics a competition can use."""
    return sorted(_METRICS)


def get_metric(name: str) -> Metric:
    """The metric called NAME, or an error listing the valid names."""
    if name not in _METRICS:
        raise KagglekitError(f"unknown metric '{name}'; valid metrics: {', '.join(list_metrics())}")
    return _METRICS[name]


def score(name: str, y_true, proba) -> float:
    """Score class probabilities against true class indices with metric NAME."""
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim == 1:  # a binary probability of the second class
        proba = np.stack([1 - proba, proba], axis=1)
    return get_metric(name).fn(np.asarray(y_true, dtype=np.int64), proba)
