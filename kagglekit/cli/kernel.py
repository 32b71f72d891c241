"""Training on Kaggle's GPUs: `kagglekit kernel build | push | status | logs | output`, and `kagglekit ensemble`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from kagglekit.cli.app import (
    Competition, Quiet, app, command, console, setup_logging, train_options,
)
from kagglekit.core.durations import format_duration

kernel_app = typer.Typer(help="Train on Kaggle's GPUs: build a self-contained kernel, push it, wait, bring the run home.",
                         no_args_is_help=True)
app.add_typer(kernel_app, name="kernel")

Name = Annotated[Optional[str], typer.Argument(help="Kernel name (folder under kernels/) [default: the only one there].",
                                               show_default=False)]
Version = Annotated[Optional[int], typer.Option(
    "--version", min=1, help="This version of the kernel [default: the one 'kernel push' sent last].", show_default=False)]


def _folder(name: str | None) -> Path:
    """kernels/NAME, or the only kernel folder there is."""
    from kagglekit.core.errors import KagglekitError
    from kagglekit.kernels.build import KERNELS_DIR, is_fold_kernel
    from kagglekit.kernels.metadata import METADATA_FILE

    if name:
        folder = KERNELS_DIR / name
        if not (folder / METADATA_FILE).is_file():
            raise KagglekitError(f"no kernel '{name}' in {KERNELS_DIR}/; run 'kagglekit kernel build --name {name}' first")
        return folder
    built = sorted(p.parent for p in KERNELS_DIR.glob(f"*/{METADATA_FILE}") if not is_fold_kernel(p.parent))
    if len(built) != 1:
        found = ", ".join(p.name for p in built) or "none"
        raise KagglekitError(f"name the kernel (kernels built: {found}); e.g. 'kagglekit kernel push NAME'")
    return built[0]


@command("build", on=kernel_app)
@train_options
def build(
    settings: dict,
    competition: Competition = None,
    gpu: Annotated[Optional[str], typer.Option(help="Accelerator, e.g. NvidiaTeslaT4 (two T4s), NvidiaL4, NvidiaTeslaA100 [default: CPU].")] = None,
    name: Annotated[Optional[str], typer.Option(help="Kernel slug and title [default: <slug>-<model>].")] = None,
    owner: Annotated[Optional[str], typer.Option(help="Kaggle user that owns the kernel [default: from the credentials].")] = None,
    internet: Annotated[bool, typer.Option("--internet", help="Let the kernel use the internet (off by default, as code competitions require).")] = False,
    dataset: Annotated[Optional[list[str]], typer.Option(help="Attach a dataset, owner/slug (repeatable).")] = None,
    model_source: Annotated[Optional[list[str]], typer.Option(help="Attach a model, owner/model/framework/instance/version (repeatable).")] = None,
    resume_from: Annotated[Optional[list[str]], typer.Option(help="Resume from this kernel's output, owner/slug (repeatable).")] = None,
    predict_from: Annotated[Optional[str], typer.Option(
        "--predict-from", help="An inference kernel that trains nothing: it predicts with the folds of this kernel's "
                               "output or dataset, OWNER/SLUG (kernel:OWNER/SLUG or dataset:OWNER/SLUG to say which); "
                               "--tta is its most test-time views.")] = None,
    notebook: Annotated[bool, typer.Option("--notebook", help="Write the kernel as an .ipynb notebook (one cell per "
                                           "step, the report's figures inline) instead of a script.")] = False,
):
    """Write kernels/<name>/: checked kernel-metadata.json and one self-contained script (or notebook) that trains and predicts."""
    from kagglekit.competition.definition import load_competition
    from kagglekit.kernels.build import build_kernel
    from kagglekit.kernels.spec import KernelSpec, default_kernel_name
    from kagglekit.kernels.remote import kernel_owner

    comp = load_competition(competition)
    from kagglekit.training.run import training_config

    config = training_config(comp, settings)
    if predict_from:
        return _build_predict(comp, config, predict_from, name, owner, gpu, internet, notebook)
    kernel_name = name or default_kernel_name(comp, config)
    spec = KernelSpec(name=kernel_name, owner=kernel_owner(owner), competition=comp, config=config, gpu=gpu,
                      internet=internet, dataset_sources=tuple(dataset or ()), model_sources=tuple(model_source or ()),
                      kernel_sources=tuple(resume_from or ()), notebook=notebook)
    folder = build_kernel(spec)
    where = gpu or "CPU"
    form = "notebook kernel" if notebook else "kernel"
    console.print(f"{form} {spec.id} ({where}, internet {'on' if internet else 'off'}) written to {folder}/{spec.code_file}")
    console.print(f"next: kagglekit kernel push {kernel_name}")


def _build_predict(comp, config, source: str, name: str | None, owner: str | None, gpu: str | None,
                   internet: bool, notebook: bool) -> None:
    import dataclasses

    from kagglekit.kernels.build import build_kernel
    from kagglekit.kernels.spec import default_predict_name, predict_spec
    from kagglekit.kernels.remote import kernel_owner, resolve_predict_source

    kind, ref = resolve_predict_source(source)
    spec = predict_spec(name or default_predict_name(comp), kernel_owner(owner), comp, config, ref, kind, gpu, notebook)
    folder = build_kernel(dataclasses.replace(spec, internet=internet))
    form = "inference notebook" if notebook else "inference kernel"
    console.print(f"{form} {spec.id} ({gpu or 'CPU'}, internet {'on' if internet else 'off'}) predicts with "
                  f"the folds of {kind} {ref}; written to {folder}/{spec.code_file}")
    console.print(f"next: kagglekit kernel push {spec.name}")


@command("push", on=kernel_app)
def push(
    name: Name = None,
    folds_parallel: Annotated[bool, typer.Option("--folds-parallel", help="One kernel per fold, run side by side.")] = False,
    max_concurrent: Annotated[int, typer.Option(help="With --folds-parallel: most sessions running at once (Kaggle caps them per account).")] = 2,
    quiet: Quiet = False,
):
    """Send the kernel to Kaggle through the kaggle client and start it; prints its URL."""
    setup_logging(quiet)
    from kagglekit.kernels.build import KERNELS_DIR, spec_from_folder
    from kagglekit.kernels.remote import push_folds, push_kernel

    folder = _folder(name)

    def show(p):
        limit = f", session timeout {format_duration(p.timeout)}" if p.timeout else ""
        console.print(f"pushed {p.id} (version {p.version}{limit}): {p.url}")

    if folds_parallel:
        push_folds(spec_from_folder(folder), folder, max_concurrent, KERNELS_DIR, on_push=show,
                   on_wait=lambda line: console.print(line, markup=False))
    else:
        for p in push_kernel(folder):
            show(p)
    console.print(f"next: kagglekit kernel status {folder.name} --wait")


def _versions(followed, version: int | None) -> dict:
    """Kernel id -> the version to act on: VERSION when given, else the one pushed last."""
    return {k.id: version or k.version for k in followed}


@command("status", on=kernel_app)
def status(
    name: Name = None,
    wait: Annotated[bool, typer.Option("--wait", help="Poll until every session has completed or failed.")] = False,
    timeout: Annotated[float, typer.Option(help="With --wait: give up after this many seconds.")] = 13 * 3600,
    version: Version = None,
    quiet: Quiet = False,
):
    """The session status of the pushed kernel (or of each fold's kernel); exit 1 when one failed."""
    setup_logging(quiet)
    from kagglekit.core.errors import KagglekitError
    from kagglekit.kernels.remote import followed_kernels, statuses, wait_for

    folder = _folder(name)
    followed = followed_kernels(folder)
    ids, versions = [k.id for k in followed], _versions(followed, version)

    def show(s):
        console.print(f"{s.id}{f' (version {s.version})' if version else ''}: {s.status.lower()}")

    if wait:
        found = wait_for(ids, timeout, on_change=show, versions=versions)
    else:
        found = statuses(ids, versions=versions)
        for s in found:
            show(s)
    failed = [s for s in found if s.status == "ERROR"]
    if failed:
        raise KagglekitError("; ".join(f"{s.id} failed: {s.failure or 'no message'}" for s in failed)
                             + " (its log comes with 'kagglekit kernel output')")
    if all(s.finished for s in found):
        console.print(f"next: kagglekit kernel output {folder.name}")


@command("logs", on=kernel_app)
def logs(
    name: Name = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Print the lines as the session writes them, until it ends; exit 1 if it failed.")] = False,
    version: Version = None,
    quiet: Quiet = False,
):
    """The session's log as lines to read (of each fold's kernel in turn after a fan-out)."""
    setup_logging(quiet)
    from kagglekit.core.errors import KagglekitError
    from kagglekit.kernels.logs import follow_log, session_log
    from kagglekit.kernels.remote import followed_kernels, statuses

    followed = followed_kernels(_folder(name))
    versions = _versions(followed, version)
    failed = []
    for k in followed:
        if len(followed) > 1:
            console.print(f"==> {k.id} (version {versions[k.id]}) <==", markup=False)
        if follow:
            ended = follow_log(k.id, versions[k.id], lambda line: typer.echo(line, nl=not line.endswith("\n")))
            failed += [ended] if ended.status != "COMPLETE" else []
            continue
        text = session_log(k.id, versions[k.id])
        if text:
            typer.echo(text, nl=not text.endswith("\n"))
        else:
            [now] = statuses([k.id], versions={k.id: versions[k.id]})
            console.print(f"{k.id} has no log yet (its session is {now.status.lower()})")
    if failed:
        raise KagglekitError("; ".join(f"{s.id} ended {s.status.lower()}: {s.failure or 'no message'}" for s in failed))


@command("output", on=kernel_app)
def output(
    name: Name = None,
    run_dir: Annotated[Optional[Path], typer.Option(help="Where to put the run [default: runs/<slug>/<kernel>, with --version runs/<slug>/<kernel>-v<N>].")] = None,
    version: Version = None,
    pattern: Annotated[Optional[str], typer.Option(help="Only the output files whose path matches this glob, e.g. submission.csv or 'fold_*/history.csv'.")] = None,
    quiet: Quiet = False,
):
    """Download every output file of the kernel(s) into local run folders that predict, validate and submit accept."""
    setup_logging(quiet)
    from kagglekit.kernels.build import read_kernel_folder
    from kagglekit.kernels.remote import download_output, followed_kernels
    from kagglekit.core.refs import parse_ref
    from kagglekit.runs.folder import RunFolder, named_run_dir

    folder = _folder(name)
    _, record = read_kernel_folder(folder)
    followed = followed_kernels(folder)
    versions = _versions(followed, version)
    runs = []
    for k in followed:
        slug = parse_ref(k.id, None, "kernel", "kaggler/digits-train").slug + (f"-v{version}" if version else "")
        target = run_dir / slug if run_dir and len(followed) > 1 else run_dir or named_run_dir(record["competition"], slug)
        files = download_output(k.id, target, record["competition_file"], version=versions[k.id], pattern=pattern,
                                accelerator=k.accelerator(versions[k.id]))
        runs.append(target)
        console.print(f"{k.id}{f' (version {version})' if version else ''}: {len(files)} files into {target}")
        if RunFolder(target).submission.is_file():
            console.print(f"submission: {RunFolder(target).submission}")
    if len(runs) > 1:
        console.print(f"next: kagglekit ensemble {' '.join(map(str, runs))} --out {named_run_dir(record['competition'], folder.name)}")


@command("ensemble")
def ensemble(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run folders whose folds to merge.")],
    out: Annotated[Path, typer.Option("--out", help="The merged run folder to write.")] = ...,
    quiet: Quiet = False,
):
    """Merge the folds of several runs (e.g. one kernel per fold) into one run folder for predict and submit."""
    setup_logging(quiet)
    from kagglekit.runs.ensemble import fold_settings, merge_runs

    merged, scores = merge_runs(run_dirs, out)
    console.print(f"run folder: {merged} (folds {', '.join(sorted(scores.get('folds', {})))})")
    for k, trained in sorted(fold_settings(merged).items()):
        console.print(f"  fold {k}: trained up to {trained.get('epochs', '?')} epochs, {trained.get('model', '?')} "
                      f"at {trained.get('image_size', '?')} px, learning rate {trained.get('learning_rate', '?')}")
    if scores:
        console.print(f"OOF {scores['metric']}: {scores['oof_score']:.4f} on {scores['n_oof']} images")
    console.print(f"next: kagglekit predict --run-dir {merged}")
