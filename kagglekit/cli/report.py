"""What users look at: the augmentation preview, a run's report, the table of runs, a model explained."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from kagglekit.cli.app import Competition, DataDir, Quiet, command, console, setup_logging
from kagglekit.core.durations import format_duration


@command("preview")
def preview(
    competition: Competition = None,
    data_dir: DataDir = None,
    augment: Annotated[Optional[str], typer.Option(help="Augmentation preset [default: the competition's].")] = None,
    image_size: Annotated[Optional[int], typer.Option(help="Input size in pixels [default: the competition's].")] = None,
    n: Annotated[int, typer.Option("--n", help="Number of training images to show.")] = 16,
    seed: Annotated[int, typer.Option(help="Which images, and which random augmentation.")] = 0,
    out: Annotated[Optional[Path], typer.Option(help="PNG file to write [default: preview-<slug>-<augment>.png].")] = None,
    quiet: Quiet = False,
):
    """Draw training images as loaded and after augmentation, exactly as the network is fed them."""
    setup_logging(quiet)
    from kagglekit.data.catalog import resolve_data_dir
    from kagglekit.competition.definition import load_competition
    from kagglekit.core.config import resolve_config
    from kagglekit.data.augment import get_augmentation
    from kagglekit.data.preview import write_preview

    comp = load_competition(competition)
    config = resolve_config(comp.train_defaults, augment=augment, image_size=image_size)
    get_augmentation(config.augment)  # a bad name fails before any image is read
    target = out or Path(f"preview-{comp.slug}-{config.augment}.png")
    path = write_preview(comp, resolve_data_dir(comp, data_dir), target, config.augment, config.image_size, n, seed)
    console.print(f"preview: {path}")


@command("report")
def report(
    run_dir: Annotated[Path, typer.Argument(help="Run folder that 'kagglekit train' wrote.")],
    out: Annotated[Optional[Path], typer.Option(help="Folder for the PNGs and report.html [default: RUN_DIR/report].")] = None,
    quiet: Quiet = False,
):
    """Draw a run's figures (history, scores, confusion, ROC, probabilities, wrong images) and an HTML page."""
    setup_logging(quiet)
    from kagglekit.runs.report import write_report

    written = write_report(run_dir, out)
    console.print(f"report: {written['html']} ({len(written) - 1} figures in {written['html'].parent})")


def _print_table(table) -> None:
    """Print a table whole: in a log or a pipe, wider than 80 columns rather than cut short."""
    from rich.console import Console

    if console.is_terminal:
        console.print(table)
        return
    wide = console.measure(table, options=console.options.update_width(1000)).maximum
    Console(file=console.file, width=max(console.width, wide), highlight=False).print(table)


@command("runs")
def runs(
    competition: Annotated[Optional[str], typer.Option("--competition", "-c", help="Only this competition's runs.")] = None,
    root: Annotated[Optional[Path], typer.Option(help="Folder holding the runs [default: runs].")] = None,
):
    """List the runs on disk: settings, OOF score, time taken, submissions, and the kernel that trained each one."""
    from rich.table import Table

    from kagglekit.runs.folder import RUNS_ROOT
    from kagglekit.runs.listing import find_runs

    root = root or RUNS_ROOT
    found = find_runs(competition, root)
    if not found:
        where = f"{root}/{competition}" if competition else str(root)
        console.print(f"no runs under {where}; train one with 'kagglekit train'")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("run", "model", "px", "augment", "folds", "sample", "OOF score", "accuracy", "time", "submitted", "public",
                 "trained on"):
        table.add_column(name, justify="right" if name not in ("run", "model", "augment", "trained on") else "left")
    for r in found:
        score = f"{r.oof_score:.4f} {r.metric}" if r.oof_score is not None else "-"
        table.add_row(
            f"{r.competition}/{r.run_dir.name}", r.model, str(r.image_size), r.augment,
            f"{r.folds_done}/{r.folds}", str(r.sample or "all"), score,
            f"{r.oof_accuracy:.4f}" if r.oof_accuracy is not None else "-", format_duration(r.seconds),
            str(r.submissions) if r.submissions else "no",
            f"{r.public_score:.5f}" if r.public_score is not None else "-",
            r.origin,
        )
    _print_table(table)
    for r in found:
        for problem in r.problems:
            console.print(f"[yellow]{problem}[/yellow]", highlight=False)


@command("explain-model")
def explain_model(
    competition: Annotated[Optional[str], typer.Option("--competition", "-c", help="Take the model, size and classes from this competition.")] = None,
    model: Annotated[Optional[str], typer.Option(help="Model name ('kagglekit models' lists them).")] = None,
    image_size: Annotated[Optional[int], typer.Option(help="Input size in pixels (square).")] = None,
):
    """Show a model's layers: output shapes, parameters, and for each convolution and pooling its receptive field."""
    setup_logging(quiet=True)
    from kagglekit.competition.definition import default_competition, load_competition
    from kagglekit.core.config import TrainConfig, resolve_config
    from kagglekit.models.explain import explain_model as explain

    n_classes, defaults = 2, {}
    if competition or default_competition():
        comp = load_competition(competition)
        n_classes, defaults = comp.n_classes, comp.train_defaults
    config = resolve_config(defaults, model=model, image_size=image_size) if defaults else TrainConfig().replace(
        model=model, image_size=image_size)
    _print_explanation(explain(config.model, config.image_size, n_classes))


def _pair(value) -> str:
    return "" if value is None else (str(value[0]) if value[0] == value[1] else f"{value[0]}x{value[1]}")


def _print_explanation(info) -> None:
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("layer", "type", "output shape", "params", "kernel", "stride", "padding", "receptive field", "jump"):
        table.add_column(name, justify="right" if name in ("params", "receptive field", "jump") else "left")
    for layer in info.layers:
        shape = "x".join(str(d) for d in layer.output_shape[1:])
        rf = _pair(layer.receptive_field)
        if layer.receptive_field and not layer.is_spatial:
            rf = f"{rf} (all)"
        table.add_row(layer.name, layer.kind, shape, f"{layer.params:,}", _pair(layer.kernel), _pair(layer.stride),
                      layer.padding or "", rf, _pair(layer.jump))
    size = info.input_shape[0]
    console.print(f"{info.model} on {size}x{size}x3 images, {info.n_classes} classes")
    _print_table(table)
    rf = info.final_receptive_field
    console.print(f"parameters: {info.total_params:,} ({info.trainable_params:,} trainable)")
    console.print(f"one value of the last convolution/pooling layer sees a {rf[0]}x{rf[1]}-pixel patch of the "
                  f"{size}x{size} image" + (" (its padded surroundings included)" if rf[0] > size else ""))
