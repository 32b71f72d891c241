"""kagglekit: from a Kaggle image-classification competition to a scored submission.

In a notebook (see kagglekit.api): load_competition, fetch, train, predict, write_submission, submit.
Importing kagglekit is light: TensorFlow loads only when something trains or predicts.
"""

from kagglekit.api import Trained, fetch, load_competition, predict, submit, train, write_submission
from kagglekit.core.errors import KagglekitError
from kagglekit.core.version import __version__

__all__ = ["KagglekitError", "Trained", "__version__", "fetch", "load_competition", "predict", "submit", "train",
           "write_submission"]
