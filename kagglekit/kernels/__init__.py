"""Stage 8, kernels: build a self-contained kernel, what it runs on Kaggle, push and follow it, logs, code submissions."""
