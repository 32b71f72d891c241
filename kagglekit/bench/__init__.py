"""Benchmarks (beside the stages): kagglekit against the alternatives, measured side by side in one process."""
