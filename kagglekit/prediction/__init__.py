"""Stage 6, prediction: every fold on the test images, and the submission file."""
