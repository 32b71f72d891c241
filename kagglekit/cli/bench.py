"""`kagglekit bench`: kagglekit's pipeline, training loop, start-up and memory against the alternatives."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from kagglekit.cli.app import Competition, DataDir, command, console, setup_logging


@command("bench")
def bench(
    competition: Competition = None,
    data_dir: DataDir = None,
    image_size: Annotated[int, typer.Option(help="Input size in pixels (square).")] = 128,
    batch_size: Annotated[int, typer.Option(help="Batch size.")] = 32,
    augment: Annotated[str, typer.Option(help="Augmentation preset every contender applies.")] = "course",
    rounds: Annotated[int, typer.Option(help="Timed epochs per pipeline, after one warm-up epoch.")] = 3,
    limit: Annotated[Optional[int], typer.Option(help="Use only N training images (quick trials).")] = None,
    train_images: Annotated[int, typer.Option(help="Training part: images per epoch.")] = 512,
    model: Annotated[str, typer.Option(help="Model of the training, memory and steps parts (steps: several, "
                                            "comma-separated, each measured).")] = "bn_cnn_small",
    steps: Annotated[int, typer.Option(help="steps part: timed training steps per configuration.")] = 60,
    parts: Annotated[str, typer.Option(help="Comma-separated: pipeline, training, startup, memory, steps.")] =
        "pipeline,training,startup,memory",
    precision: Annotated[str, typer.Option(help="steps part: dtype policy to compare with float32, each with and "
                                                "without XLA (auto: mixed_bfloat16 on a CPU, by the GPU otherwise).")] = "auto",
    out: Annotated[Optional[Path], typer.Option(help="Also write the results as Markdown to this file.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
):
    """Time kagglekit against ImageDataGenerator, image_dataset_from_directory and plain model.fit."""
    setup_logging(quiet)
    from kagglekit.bench.measure import BenchSettings, run_bench
    from kagglekit.bench.results import results_markdown, results_table
    from kagglekit.data.catalog import resolve_data_dir
    from kagglekit.competition.definition import load_competition
    from kagglekit.core.atomic import write_text

    comp = load_competition(competition)
    settings = BenchSettings(image_size=image_size, batch_size=batch_size, augment=augment, rounds=rounds,
                             limit=limit, train_images=train_images, precision=precision,
                             train_model=model.split(",")[0], memory_model=model.split(",")[0], steps=steps,
                             step_models=model)
    report = run_bench(comp, resolve_data_dir(comp, data_dir), settings, [p.strip() for p in parts.split(",") if p.strip()])
    console.print(results_table(report["rows"]))
    if out:
        command_line = shlex.join(["kagglekit", *sys.argv[1:]])
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        write_text(Path(out), results_markdown(report, command_line))
        console.print(f"results: {out}")
