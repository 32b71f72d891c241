"""Stage 4, the run folder: its files and typed records, listing runs, the report, ensembles of runs.

It comes before training/ because training writes into the run folder this stage defines."""
