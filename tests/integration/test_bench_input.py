"""The benchmark's bad input and its memory measurement (the full run of every contender is in tests/e2e)."""

import pytest

from kagglekit.bench.measure import BenchSettings, run_bench, run_peak_rss
from kagglekit.competition.definition import load_competition
from kagglekit.core.errors import KagglekitError


def test_bench_rejects_unknown_parts(workdir, dogs_dir):
    with pytest.raises(KagglekitError, match="valid: pipeline, training, startup, memory"):
        run_bench(load_competition("dogs-vs-cats"), dogs_dir, BenchSettings(limit=8), ["speed"])


def test_peak_rss_is_of_the_child_alone():
    import sys

    code, mb, _ = run_peak_rss([sys.executable, "-c", "b = b'x' * (200 * 2**20)"])
    assert code == 0 and 200 < mb < 400


def test_bench_cli_reports_bad_parts(workdir, dogs_dir, cli):
    code, _, err = cli("bench", "-c", "dogs-vs-cats", "--data-dir", dogs_dir, "--parts", "speed")
    assert code == 1 and "unknown benchmark part 'speed'" in err
