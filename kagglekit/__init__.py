"""kagglekit: from a Kaggle image-classification competition to a scored submission."""

from kagglekit.core.version import __version__  # noqa: F401
