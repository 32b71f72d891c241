"""kagglekit: from a Kaggle image-classification competition to a scored submission."""

__version__ = "0.1.0"
