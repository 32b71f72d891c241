"""The benchmark code runs end to end on a few real photos (timings are not checked here: every contender once)."""

from kagglekit.bench.measure import BenchSettings, run_bench
from kagglekit.bench.results import results_markdown
from kagglekit.competition.definition import load_competition


def test_bench_runs_every_contender_on_a_few_images(workdir, dogs_dir):
    settings = BenchSettings(image_size=32, batch_size=8, rounds=1, limit=24, train_images=16, train_rounds=1,
                             startup_repeats=1, steps=2, precision="float32")
    parts = ["pipeline", "training", "startup", "steps"]
    report = run_bench(load_competition("dogs-vs-cats"), dogs_dir, settings, parts)
    rows = {(r["part"], r["contender"]): r for r in report["rows"]}
    assert {part for part, _ in rows} == set(parts)
    assert len([r for r in report["rows"] if r["part"] == "pipeline"]) == 7
    for row in report["rows"]:
        assert row["value"] > 0, row
        if row["target"]:  # "met" says what the target says of the measured ratio (or value)
            op, bound = row["target"].split()[:2]
            measured = row["ratio"] if bound.endswith("x") else row["value"]
            bound = float(bound.rstrip("x"))
            assert row["met"] is (measured >= bound if op == ">=" else measured < bound), row
    assert report["n_images"] == 24
    text = results_markdown(report, "kagglekit bench --limit 24")
    assert "`kagglekit bench --limit 24`" in text and "ImageDataGenerator" in text and "TensorFlow" in text
