"""Stage 7, Kaggle I/O: one remote engine for every call, fetch, submit, runs published as datasets."""
