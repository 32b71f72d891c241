"""A run's report: one PNG per topic and one self-contained HTML page that shows them together.

Figures (drawn with matplotlib's Agg renderer, never on screen):
  history.png        loss and accuracy per epoch for every fold, training and validation, best epoch marked
  scores.png         the OOF score per fold and overall
  confusion.png      the OOF confusion matrix
  roc.png            ROC curve (two classes) or one-vs-rest curves (more classes)
  probabilities.png  histogram of the predicted probabilities
  wrong.png          the most confidently wrong training images, with their ids
report.html embeds every PNG (base64), so the page opens offline and can be
mailed on its own; it also links the PNG files next to it.
"""

from __future__ import annotations

import base64
import html
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kagglekit.core.atomic import atomic_open, write_text
from kagglekit.core.config import TrainConfig
from kagglekit.core.durations import format_duration
from kagglekit.core.errors import KagglekitError
from kagglekit.core.progress import report_progress
from kagglekit.runs.folder import RunFolder, read_history
from kagglekit.runs.records import FoldResult, OofTable, RunRecord

log = logging.getLogger("kagglekit")

DPI = 100
# Pixel sizes of the figures (width, height): fixed, so reports line up and tests can check them.
SIZES = {
    "history": (1200, 480),
    "scores": (1000, 420),
    "confusion": (720, 640),
    "roc": (640, 600),
    "probabilities": (1000, 420),
    "wrong": (1000, 1040),
}
TITLES = {
    "history": "Loss and accuracy per epoch",
    "scores": "Out-of-fold score per fold",
    "confusion": "Confusion matrix (out-of-fold)",
    "roc": "ROC curve (out-of-fold)",
    "probabilities": "Predicted probabilities (out-of-fold)",
    "wrong": "Most confidently wrong training images",
}
N_WRONG = 16


@dataclass(frozen=True)
class RunData:
    """What a report is drawn from, read once from a run folder."""

    run_dir: Path
    config: TrainConfig
    info: RunRecord
    scores: dict
    results: list[FoldResult]
    histories: dict[int, pd.DataFrame]
    table: OofTable

    @property
    def oof(self) -> pd.DataFrame:
        return self.table.frame

    @property
    def classes(self) -> list[str]:
        return self.table.classes

    @property
    def proba(self) -> np.ndarray:
        return self.table.proba()

    @property
    def labels(self) -> np.ndarray:
        return self.table.labels


def load_run(run_dir: Path) -> RunData:
    """Read a run folder's settings, fold histories and OOF predictions."""
    run = RunFolder(run_dir)
    config = run.read_config()  # a clear error for a folder that is not a run
    info = run.read_record(required=False)
    oof = run.read_oof()
    if oof is None:
        raise KagglekitError(f"run {run.path} has no finished fold (no oof.csv); run 'kagglekit train' first")
    results = run.results()
    histories = {r.fold: read_history(run.fold(r.fold)) for r in results}
    return RunData(run.path, config, info, run.read_scores(), results, histories, oof)


def new_figure(name: str):
    """An empty figure of the fixed size for NAME (no pyplot: no global state, no window)."""
    from matplotlib.figure import Figure

    width, height = SIZES[name]
    return Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")


def _colors(n: int):
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def plot_history(run: RunData):
    """Loss and accuracy per epoch, every fold: training dots, validation line, best epoch starred."""
    fig = new_figure("history")
    metrics = ["loss", "accuracy"]
    axes = fig.subplots(1, len(metrics))
    for (fold, history), color in zip(sorted(run.histories.items()), _colors(len(run.histories))):
        if history.empty:
            continue
        epochs = history["epoch"].to_numpy() + 1
        best = int(history["val_loss"].idxmin()) if history["val_loss"].notna().any() else None
        for ax, metric in zip(axes, metrics):
            if metric not in history:
                continue
            ax.plot(epochs, history[metric], "o", color=color, alpha=0.6, markersize=4)
            ax.plot(epochs, history[f"val_{metric}"], "-", color=color, label=f"fold {fold}")
            if best is not None:
                ax.plot(epochs[best], history[f"val_{metric}"].iloc[best], "*", color=color, markersize=16,
                        markeredgecolor="black")
    from matplotlib.ticker import MaxNLocator

    for ax, metric in zip(axes, metrics):
        ax.set_title(f"training and validation {metric}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    # One legend entry per fold (colour) plus one per kind of mark, rather than three per fold.
    from matplotlib.lines import Line2D

    kinds = [Line2D([], [], color="grey", marker="o", linestyle="", alpha=0.6, markersize=4, label="training"),
             Line2D([], [], color="grey", label="validation"),
             Line2D([], [], color="grey", marker="*", linestyle="", markersize=12, markeredgecolor="black",
                    label="best epoch (lowest validation loss)")]
    handles, _ = axes[0].get_legend_handles_labels()
    axes[0].legend(handles=handles + kinds, fontsize="small")
    return fig


def plot_scores(run: RunData):
    """A bar per fold and a line for the OOF score overall, for the metric and accuracy."""
    fig = new_figure("scores")
    metric = run.scores.get("metric", "score")
    panels = [(metric, "score", "oof_score"), ("accuracy", "accuracy", "oof_accuracy")]
    if metric == "accuracy" or any(r.accuracy is None for r in run.results):  # a hand-written result may have none
        panels = panels[:1]
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    folds = [r.fold for r in run.results]
    for ax, (name, key, overall_key) in zip(axes, panels):
        values = [getattr(r, key) for r in run.results]
        bars = ax.bar([f"fold {f}" for f in folds], values, color=_colors(len(folds)))
        ax.bar_label(bars, fmt="%.4f", fontsize="small")
        overall = run.scores.get(overall_key)
        if overall is not None:
            ax.axhline(overall, color="black", linestyle="--", label=f"overall OOF {overall:.4f}")
            ax.legend(loc="lower right")
        better = "higher" if name in ("accuracy", "roc_auc") else "lower"
        ax.set_title(f"{name} per fold ({better} is better)")
        ax.set_ylabel(name)
        ax.margins(y=0.15)
    return fig


def plot_confusion(run: RunData):
    """OOF confusion matrix: colour = share of the true class, number = count."""
    from sklearn.metrics import confusion_matrix

    fig = new_figure("confusion")
    ax = fig.subplots()
    n = len(run.classes)
    counts = confusion_matrix(run.labels, run.proba.argmax(axis=1), labels=list(range(n)))
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, label="share of the true class", shrink=0.8)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize="small" if n > 6 else "medium",
                    color="white" if share[i, j] > 0.5 else "black")
    ax.set_xticks(range(n), run.classes)
    ax.set_yticks(range(n), run.classes)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    accuracy = np.trace(counts) / max(counts.sum(), 1)
    ax.set_title(f"{counts.sum()} out-of-fold predictions, accuracy {accuracy:.3f}")
    return fig


def plot_roc(run: RunData):
    """ROC of the second class for two classes; one-vs-rest curves for more."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fig = new_figure("roc")
    ax = fig.subplots()
    y, proba = run.labels, run.proba
    targets = [1] if len(run.classes) == 2 else list(range(len(run.classes)))
    for k, color in zip(targets, _colors(len(targets))):
        positive = y == k
        if positive.all() or not positive.any():
            continue  # undefined on one class
        fpr, tpr, _ = roc_curve(positive, proba[:, k])
        auc = roc_auc_score(positive, proba[:, k])
        name = f"{run.classes[k]} vs rest" if len(targets) > 1 else f"positive class: {run.classes[k]}"
        ax.plot(fpr, tpr, color=color, label=f"{name} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], ":", color="grey", label="chance")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_aspect("equal")
    ax.set_title("ROC curve" if len(targets) == 1 else "ROC curves, one class against the rest")
    ax.legend(loc="lower right", fontsize="small")
    return fig


def plot_probabilities(run: RunData):
    """Two classes: P(second class) split by true class. More: P(true class), right vs wrong."""
    fig = new_figure("probabilities")
    ax = fig.subplots()
    y, proba = run.labels, run.proba
    bins = np.linspace(0, 1, 21)
    if len(run.classes) == 2:
        for k, color in zip((0, 1), _colors(2)):
            ax.hist(proba[y == k, 1], bins=bins, alpha=0.6, color=color, label=f"true class {run.classes[k]}")
        ax.set_xlabel(f"predicted probability of {run.classes[1]}")
    else:
        truth = proba[np.arange(len(y)), y]
        right = proba.argmax(axis=1) == y
        ax.hist(truth[right], bins=bins, alpha=0.6, color="tab:green", label=f"predicted right ({right.sum()})")
        ax.hist(truth[~right], bins=bins, alpha=0.6, color="tab:red", label=f"predicted wrong ({(~right).sum()})")
        ax.set_xlabel("predicted probability of the true class")
    ax.set_yscale("log")  # the few wrong ones stay visible next to the many right ones
    ax.set_ylabel("images (log scale)")
    ax.set_title("how sure the out-of-fold predictions are")
    ax.legend()
    return fig


def _train_paths(run: RunData) -> dict[str, str]:
    """Training id -> image path, from the competition definition and data folder the run used."""
    from kagglekit.competition.definition import load_competition
    from kagglekit.data.catalog import build_train_table

    try:
        if not run.info.competition_file or not run.info.data_dir:
            raise KagglekitError("run.json names no competition file or data folder")
        comp = load_competition(run.info.competition_file)
        table = build_train_table(comp, Path(run.info.data_dir))
    except (KagglekitError, OSError) as exc:
        log.warning("report: training images not found (%s); wrong.png shows ids only", str(exc).splitlines()[0][:120])
        return {}
    return dict(zip(table["id"].astype(str), table["path"]))


def confidently_wrong(run: RunData, n: int = N_WRONG) -> pd.DataFrame:
    """The N wrong OOF predictions made with the highest probability: id, label, predicted, confidence."""
    proba, y = run.proba, run.labels
    predicted = proba.argmax(axis=1)
    table = pd.DataFrame({"id": run.oof["id"], "label": y, "predicted": predicted, "confidence": proba.max(axis=1)})
    wrong = table[table["predicted"] != table["label"]]
    return wrong.sort_values("confidence", ascending=False, kind="stable").head(n).reset_index(drop=True)


def plot_wrong(run: RunData):
    """A 4x4 grid of the most confidently wrong training images, as loaded, with id, truth and prediction."""
    from PIL import Image

    fig = new_figure("wrong")
    axes = fig.subplots(4, 4).ravel()
    wrong = confidently_wrong(run, len(axes))
    paths = _train_paths(run) if len(wrong) else {}
    for ax in axes:
        ax.set_axis_off()
    if wrong.empty:
        axes[0].text(0, 0.5, "no wrong predictions", fontsize="large")
    for ax, row in zip(axes, wrong.itertuples()):
        path = paths.get(str(row.id))
        if path:
            with Image.open(path) as im:
                pixels = np.asarray(im.convert("RGB"))
            ax.imshow(pixels, interpolation="nearest" if max(pixels.shape[:2]) < 64 else "antialiased")
        else:
            ax.text(0.5, 0.5, "image not found", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(f"id {row.id}\ntrue {run.classes[row.label]}, predicted {run.classes[row.predicted]} "
                     f"({row.confidence:.2f})", fontsize="small")
    return fig


FIGURES = {
    "history": plot_history,
    "scores": plot_scores,
    "confusion": plot_confusion,
    "roc": plot_roc,
    "probabilities": plot_probabilities,
    "wrong": plot_wrong,
}


def write_report(run_dir: Path, out_dir: Path | None = None) -> dict[str, Path]:
    """Write every figure of RUN_DIR as PNG and the HTML page into OUT_DIR (default RUN_DIR/report).

    Returns figure name (and "html") -> path written.
    """
    run = load_run(run_dir)
    out = Path(out_dir) if out_dir else RunFolder(run.run_dir).report
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    log.info("drawing the report of %s", run.run_dir)
    for i, (name, draw) in enumerate(FIGURES.items()):
        report_progress(log, "report", f"report: {name}.png", i, len(FIGURES))
        fig = draw(run)
        path = out / f"{name}.png"
        # Atomically: folds trained in parallel may finish, and report, at the same time.
        with atomic_open(path, "wb") as fh:
            fig.savefig(fh, dpi=DPI, format="png")
        written[name] = path
    written["html"] = write_html(run, written, out / "report.html")
    report_progress(log, "report", "report", len(FIGURES), len(FIGURES))
    return written


def report_after_training(run_dir: Path, out_dir: Path | None = None) -> Path | None:
    """Write RUN_DIR's report (into OUT_DIR, default RUN_DIR/report) after training; a failure is a warning,
    since the run itself is fine."""
    try:
        return write_report(run_dir, out_dir)["html"]
    except Exception as exc:  # noqa: BLE001 - hours of training must not end in exit code 1 over a plot
        log.warning("the report was not written (%s); run 'kagglekit report %s' to retry",
                    str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__, run_dir)
        return None


def _summary_rows(run: RunData) -> list[tuple[str, str]]:
    config, scores = run.config, run.scores
    rows = [
        ("competition", run.info.competition or "?"),
        ("run folder", str(run.run_dir)),
        ("model", f"{config.model} at {config.image_size} px, weights {config.weights}"),
        ("training", f"{config.folds} folds, up to {config.epochs} epochs, batch {config.batch_size}, "
                     f"learning rate {config.learning_rate}, augmentation {config.augment}"),
        ("images", f"{scores.get('n_oof', len(run.oof))} out-of-fold predictions"
                   + (f" (a sample of {config.sample})" if config.sample else "")),
    ]
    for r in run.results:  # each fold as it was trained (a resumed run may have raised --epochs)
        rows.append((f"fold {r.fold}", f"{r.epochs_run if r.epochs_run is not None else '?'} of up to "
                                       f"{r.settings.get('epochs', '?')} epochs (best {r.best_epoch}), "
                                       f"{format_duration(r.seconds)}, {r.metric} {r.score:.4f}"))
    if scores:
        rows.append((f"OOF {scores['metric']}", f"{scores['oof_score']:.4f}"))
        rows.append(("OOF accuracy", f"{scores['oof_accuracy']:.4f}"))
        rows.append(("training time", format_duration(scores.get("train_seconds", 0))))
    versions = run.info.versions
    rows.append(("versions", ", ".join(f"{k} {v}" for k, v in versions.items() if v)))
    return rows


def write_html(run: RunData, figures: dict[str, Path], path: Path) -> Path:
    """One page with the run's summary and every figure embedded, so it needs no network and no other file."""
    esc = html.escape
    summary = "\n".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in _summary_rows(run))
    sections = []
    for name, png in figures.items():
        data = base64.b64encode(Path(png).read_bytes()).decode("ascii")
        sections.append(
            f'<section id="{name}"><h2>{esc(TITLES[name])}</h2>'
            f'<img src="data:image/png;base64,{data}" alt="{esc(png.name)}">'
            f'<p class="file"><a href="{esc(png.name)}">{esc(png.name)}</a></p></section>'
        )
    title = f"kagglekit report: {run.info.competition or ''} {run.run_dir.name}"
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1240px; margin: 2em auto; padding: 0 1em; color: #222; }}
table {{ border-collapse: collapse; }} th, td {{ text-align: left; padding: 2px 12px 2px 0; vertical-align: top; }}
img {{ max-width: 100%; border: 1px solid #ddd; }} .file {{ font-size: small; }}
</style></head>
<body><h1>{esc(title)}</h1>
<table>
{summary}
</table>
{"".join(sections)}
</body></html>
"""
    return write_text(path, page)
