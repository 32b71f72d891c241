"""The scores the dogs-vs-cats scripts print: accuracy and log loss of p_dog against the labels, each with its SE.

Accuracy (of the label a submission writes, p_dog > 0.5) and log loss come from scikit-learn. Accuracy's SE is
sqrt(p(1-p)/n); log loss's is the standard deviation of the per-image losses over sqrt(n). Two models scored on
the same photos are compared paired: the mean of the per-image differences and its standard error.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import accuracy_score, log_loss


@dataclass(frozen=True)
class Scores:
    """One model's (or ensemble's) scores over n photos, with the per-image figures kept for a paired comparison."""

    accuracy: float
    log_loss: float
    correct: np.ndarray  # 1.0 where p_dog > 0.5 matches the label
    losses: np.ndarray  # each photo's log loss

    def __str__(self) -> str:
        n = len(self.losses)
        return (f"accuracy {self.accuracy:.4f} +- {np.sqrt(self.accuracy * (1 - self.accuracy) / n):.4f}, "
                f"log loss {self.log_loss:.4f} +- {self.losses.std(ddof=1) / np.sqrt(n):.4f}")


def score(labels, p_dog) -> Scores:
    """Scores of the probabilities p_dog (clipped to [1e-7, 1 - 1e-7]) against 0/1 labels."""
    y = np.asarray(labels)
    p = np.clip(np.asarray(p_dog, dtype=float), 1e-7, 1 - 1e-7)
    return Scores(accuracy=accuracy_score(y, p > 0.5), log_loss=log_loss(y, p, labels=[0, 1]),
                  correct=((p > 0.5) == (y == 1)).astype(float), losses=-(y * np.log(p) + (1 - y) * np.log(1 - p)))


def paired(a: Scores, b: Scores) -> str:
    """A minus B over the same photos, in the same order: accuracy and log loss, each with its SE."""
    parts = []
    for name, diff in (("accuracy", a.correct - b.correct), ("log loss", a.losses - b.losses)):
        se = diff.std(ddof=1) / np.sqrt(len(diff))
        parts.append(f"{name} {diff.mean():+.4f} +- {se:.4f} ({abs(diff.mean()) / se:.1f} SE)")
    return ", ".join(parts)
