"""Benchmark results as RESULTS.md: the machine they ran on, the table of ratios, the targets met or missed.

`bench.run_bench` measures; this module describes the machine and writes what
was measured, with the exact command, so a result can be reproduced and read
in context (on a shared machine the load average matters).
"""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path


def machine_description() -> dict:
    """CPU model, cores, memory, load and library versions: what the numbers depend on."""
    import keras
    import tensorflow as tf

    cpu = platform.processor() or platform.machine()
    meminfo = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, value = line.split(":", 1)
            meminfo[key] = int(value.split()[0])
    except OSError:
        pass
    from kagglekit.training.devices import cpu_features

    return {
        "cpu": cpu_features() if cpu != platform.machine() else cpu,
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "ram_gb": round(meminfo.get("MemTotal", 0) / 2**20, 1),
        "load_average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "gpu": ", ".join(tf.config.experimental.get_device_details(d).get("device_name", d.name)
                         for d in tf.config.list_physical_devices("GPU")) or "none",
    }


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    return f"{value:.2f}x" if isinstance(value, float) else str(value)


def results_table(rows: list[dict]) -> str:
    """The rows as a Markdown table."""
    lines = ["| part | contender | result | kagglekit ÷ this | target | met | note |",
             "| --- | --- | ---: | ---: | --- | --- | --- |"]
    for r in rows:
        value = f"{r['value']:.0f} {r['unit']}" if r["unit"] != "s" else f"{r['value']:.2f} s"
        lines.append(f"| {r['part']} | {r['contender']} | {value} | {_cell(r['ratio'])} | "
                     f"{r['target'] or ''} | {_cell(r['met'])} | {r['note']} |")
    return "\n".join(lines)


CAVEATS = """\
## Reading these numbers

- The machine is shared: other engineers' jobs ran during the benchmark (see the load
  averages above), so absolute images/s move from run to run. Every ratio compares
  contenders timed in the same process, interleaved round by round, which is what to trust.
- Floors: "decode + resize alone" is kagglekit's own decode_image (JPEG DCT scaling, area
  shrink) with nothing after it; "augmenting cached tensors alone" is kagglekit's warp on
  uint8 tensors already in memory. The first epoch has to do both jobs; on a CPU-only machine
  where decoding already keeps every core busy, the warp cannot hide behind the decode, so
  the first epoch is bounded by decode / (decode + warp) of the floor.
- ImageDataGenerator is reached the course's way, through tf.keras (Keras 3.15 dropped
  keras.preprocessing.image.ImageDataGenerator; tf.keras still ships the same class).
- The image_dataset_from_directory contender has no shear layer (the Keras guide uses none),
  so it does a little less work than the others; it decodes every epoch, as the guide does.
- Training is timed with a small model (the pipeline's share is largest there), validation
  on both sides; kagglekit's side includes its callbacks (checkpoint, backup, CSV log).
"""


def target_lines(rows: list[dict]) -> list[str]:
    """One line per target: met, or missed by how much."""
    lines = []
    for r in rows:
        if r["target"] is None:
            continue
        goal = float(re.search(r"[0-9.]+", r["target"]).group())
        got = r["value"] if r["unit"] == "MB" else r["ratio"]
        shortfall = (got - goal) / goal if r["unit"] == "MB" else (goal - got) / goal
        verdict = "met" if r["met"] else f"**missed by {100 * shortfall:.0f}%**"
        shown = f"{got:.0f} MB" if r["unit"] == "MB" else f"{got:.2f}x"
        lines.append(f"- {r['part']}, {r['contender']}: target {r['target']}, measured {shown}: {verdict}")
    return lines


def results_markdown(report: dict, command: str) -> str:
    """RESULTS.md: the table, the exact command and the machine it ran on."""
    m, s = report["machine"], report["settings"]
    return "\n".join([
        "# kagglekit benchmark results",
        "",
        f"Command: `{command}`  ",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM, GPU: {m['gpu']}; "
        f"Python {m['python']}, TensorFlow {m['tensorflow']}, Keras {m['keras']}  ",
        f"Load average (1, 5, 15 min) before: {m['load_average']}; after: {m['load_average_after']}  ",
        f"Settings: {report['n_images']} images, {s.image_size} px, batch {s.batch_size}, augmentation "
        f"'{s.augment}', {s.rounds} timed rounds after one warm-up epoch (training: {s.train_rounds}); "
        f"took {report['seconds'] / 60:.1f} min",
        "",
        results_table(report["rows"]),
        "",
        "## Targets",
        "",
        *target_lines(report["rows"]),
        "",
        CAVEATS,
    ])
