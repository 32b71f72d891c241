"""Stage 3, the models: the registry, fine-tuning of backbones, one model's inference with test-time views, explain."""
