"""Metrics by name, on class probabilities, agreeing with their textbook values."""

import math

import numpy as np
import pytest

from kagglekit.competition.metrics import list_metrics, score
from kagglekit.core.errors import KagglekitError


def test_binary_metrics():
    y = np.array([0, 1, 1, 0])
    p_dog = np.array([0.2, 0.9, 0.4, 0.1])
    assert score("accuracy", y, p_dog) == 0.75
    expected = -np.mean(np.log([0.8, 0.9, 0.4, 0.9]))
    assert score("log_loss", y, p_dog) == pytest.approx(expected)
    assert score("roc_auc", y, p_dog) == 1.0


def test_multiclass_and_edge_cases():
    y = np.array([0, 1, 2])
    proba = np.eye(3)[[0, 2, 2]] * 0.7 + 0.1
    assert score("accuracy", y, proba) == pytest.approx(2 / 3)
    assert score("log_loss", y, np.eye(3)[y]) < 1e-6  # perfect, yet finite after clipping
    assert math.isnan(score("roc_auc", np.zeros(3, int), proba))  # one class only: undefined, not a crash
    assert list_metrics() == ["accuracy", "log_loss", "roc_auc"]
    with pytest.raises(KagglekitError, match="valid metrics: accuracy, log_loss, roc_auc"):
        score("f1", y, proba)
