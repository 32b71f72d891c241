"""Stage 5, training: one fold, cross-validation, the time budget, learning-rate schedules, devices and precision."""
