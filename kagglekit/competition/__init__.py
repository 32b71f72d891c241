"""Stage 1, the competition: its definition (TOML), the shipped definitions, inferring one from files, the demo, the metrics."""
