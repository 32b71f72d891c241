"""Talking to Kaggle: fetch, submit, and the local Kaggle-compatible sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from kagglekit.cli.app import Competition, DataDir, Quiet, command, console, err_console, setup_logging

Settings = Annotated[Optional[list[str]], typer.Option(
    "--set", metavar="KEY=VALUE",
    help="Settle what the files leave open, e.g. labels.label_column=breed or metric=roc_auc (repeatable).")]


def _size(n: int | None) -> str:
    return "unknown size" if n is None else f"{n / 1e6:.1f} MB"


@command("fetch")
def fetch(
    competition: Competition = None,
    data_dir: DataDir = None,
    force: Annotated[bool, typer.Option("--force", help="Download and unpack again even when up to date.")] = False,
    settings: Settings = None,
    file: Annotated[Optional[list[str]], typer.Option(
        "--file", metavar="NAME", help="Only this file of the competition, e.g. train.csv, or a glob such as '*.csv' "
                                       "(repeatable).")] = None,
    quiet: Quiet = False,
):
    """Download the competition's files with the kaggle client and unpack them; a second run downloads nothing.

    For a competition kagglekit has no definition for, the definition is inferred from the files and
    Kaggle's record of the competition, and written to competitions/<slug>/competition.toml.
    """
    setup_logging(quiet)
    from kagglekit.competition.definition import default_competition, load_competition
    from kagglekit.competition.infer import has_definition
    from kagglekit.core.config import default_data_dir
    from kagglekit.core.errors import KagglekitError
    from kagglekit.kaggle.fetch import fetch_competition

    name = competition or default_competition()
    if file:
        return _fetch_files(name, file, data_dir, force, quiet)
    if name and not has_definition(name):
        return _fetch_new(name, data_dir or default_data_dir(name), force, settings, quiet)
    comp = load_competition(name)
    if settings:
        raise KagglekitError(f"--set is for competitions without a definition; edit {comp.source} instead")
    result = fetch_competition(comp, data_dir or default_data_dir(comp.slug), force=force, progress=not quiet)
    if not result.downloaded:
        console.print(f"{result.data_dir} is up to date with {comp.slug}; nothing downloaded (--force downloads again)")
        return
    resumed = f", resumed after {_size(result.resumed_from)}" if result.resumed_from else ""
    unpacked = f"; unpacked {', '.join(result.unpacked)}" if result.unpacked else ""
    console.print(f"fetched {comp.slug} ({_size(result.size)}{resumed}) into {result.data_dir}{unpacked}")


def _fetch_files(name: str | None, names: list[str], data_dir: Path | None, force: bool, quiet: bool) -> None:
    from kagglekit.core.config import default_data_dir
    from kagglekit.core.errors import KagglekitError
    from kagglekit.kaggle.fetch import fetch_files
    from kagglekit.kaggle.new_competition import definition_or_stand_in

    if not name:
        raise KagglekitError("no competition given; pass -c SLUG (the name in the competition's URL)")
    comp = definition_or_stand_in(name)
    folder = data_dir or default_data_dir(comp.slug)
    for got in fetch_files(comp, names, folder, force=force, progress=not quiet):
        what = f"fetched {got.name}" if got.downloaded else f"{got.name} is up to date"
        console.print(f"{what} ({_size(got.size)}) in {folder}" + ("" if got.downloaded else "; --force downloads it again"))


def _fetch_new(slug: str, data_dir: Path, force: bool, settings: list[str] | None, quiet: bool) -> None:
    from kagglekit.competition.toml import definition_target, parse_settings
    from kagglekit.kaggle.new_competition import fetch_new_competition

    values = parse_settings(settings)
    target = definition_target(slug, force)  # refused before a long download, not after
    result, inferred = fetch_new_competition(slug, data_dir, target, force=force, progress=not quiet, settings=values)
    what = f"fetched {slug} ({_size(result.size)})" if result.downloaded else f"{data_dir} is up to date with {slug}"
    unpacked = f"; unpacked {', '.join(result.unpacked)}" if result.unpacked else ""
    console.print(f"{what} into {data_dir}{unpacked}")
    _show_inferred(inferred, target)


def _show_inferred(inferred, target: Path) -> None:
    console.print(f"kagglekit had no definition of {inferred.competition.slug}; it inferred this one and wrote it to {target}:")
    console.print(inferred.text, markup=False)
    for warning in inferred.warnings:
        err_console.print(f"[bold yellow]check:[/] {warning}", soft_wrap=True)
    console.print(f"Check it against the competition's Data and Evaluation pages and edit {target} where it is wrong, "
                  f"then: kagglekit train -c {inferred.competition.slug}")


@command("init")
def init(
    competition: Competition = None,
    data_dir: DataDir = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing definition of the competition.")] = False,
    settings: Settings = None,
):
    """Infer a competition's definition from its files already on disk; writes competitions/<slug>/competition.toml."""
    setup_logging(False)
    from kagglekit.competition.definition import default_competition
    from kagglekit.competition.infer import init_definition
    from kagglekit.competition.toml import parse_settings
    from kagglekit.core.config import default_data_dir
    from kagglekit.core.errors import KagglekitError

    slug = competition or default_competition()
    if not slug:
        raise KagglekitError("no competition given; pass -c SLUG (the name in the competition's URL)")
    inferred, target = init_definition(slug, data_dir or default_data_dir(slug), force, parse_settings(settings))
    _show_inferred(inferred, target)


@command("submit")
def submit(
    file: Annotated[Optional[Path], typer.Argument(help="Submission CSV [default: the newest runs/<slug>/*/submission.csv].",
                                                   show_default=False)] = None,
    message: Annotated[str, typer.Option("--message", "-m", help="Description shown with the submission on Kaggle.")] = ...,
    competition: Competition = None,
    data_dir: DataDir = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until Kaggle has scored it and print the public score.")] = False,
    quiet: Quiet = False,
    kernel: Annotated[Optional[str], typer.Option(
        "--kernel", help="Code competitions: submit a version of this kernel, OWNER/SLUG, instead of a file.")] = None,
    version: Annotated[Optional[int], typer.Option(
        "--version", help="With --kernel: the kernel version [default: the one its last 'kernel push' recorded].")] = None,
    output_file: Annotated[Optional[str], typer.Option(
        "--file", help="With --kernel: the file the kernel writes to /kaggle/working [default: submission.csv].")] = None,
):
    """Check a submission file, then send it to Kaggle (never an invalid one); --wait prints its score.

    For a code competition, --kernel submits a kernel version: Kaggle reruns it on the hidden test set.
    """
    setup_logging(quiet)
    from kagglekit.competition.definition import load_competition
    from kagglekit.core.config import default_data_dir
    from kagglekit.core.errors import KagglekitError
    from kagglekit.kaggle.submit import check_takes_files, default_submission_file, submit_file

    comp = load_competition(competition)
    if kernel:
        return _submit_kernel(comp, file, kernel, version, output_file, message, wait)
    if version is not None or output_file:
        raise KagglekitError("--version and --file go with --kernel (a code competition's kernel submission)")
    check_takes_files(comp)  # before looking for a file: a code competition takes none
    path = file or default_submission_file(comp)
    result = submit_file(comp, path, message, data_dir or default_data_dir(comp.slug), wait=wait)
    console.print(f"submitted {result.file} to {comp.slug} (ref {result.ref})")
    if result.status == "complete":
        console.print(f"public score: {result.public_score or '(not published)'}")
    if result.left_today is not None:
        console.print(f"{result.left_today} submission{'' if result.left_today == 1 else 's'} left today")


def _submit_kernel(comp, file: Path | None, kernel: str, version: int | None, output_file: str | None, message: str,
                   wait: bool) -> None:
    from kagglekit.core.errors import KagglekitError
    from kagglekit.kernels.code_submission import DEFAULT_FILE, submit_kernel

    if file is not None:
        raise KagglekitError(f"give either FILE or --kernel, not both ({file}); a code competition takes a kernel "
                             "version, and --file names the file that kernel writes")
    result = submit_kernel(comp, kernel, message, version, output_file or DEFAULT_FILE, wait=wait)
    console.print(f"submitted {result.file} to {comp.slug} (ref {result.ref})")
    if result.status == "complete":
        console.print(f"public score: {result.public_score or '(not published)'}")
    else:
        console.print("Kaggle reruns the kernel on the hidden test set; --wait waits for its score")


@command("sandbox")
def sandbox(
    port: Annotated[int, typer.Option(help="Port to listen on (0 picks a free one).")] = 7777,
    data: Annotated[Optional[list[Path]], typer.Option(
        "--data", help="Competition folder laid out like Kaggle's download plus solution.csv (repeatable).")] = None,
    state: Annotated[Path, typer.Option(help="Folder for submissions, scores and settings (kept across restarts).")] = Path(".sandbox"),
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    daily_limit: Annotated[int, typer.Option(help="Submissions allowed per competition and day.")] = 5,
    metric: Annotated[Optional[str], typer.Option(
        "--metric", metavar="NAME",
        help="Kaggle's record's evaluation metric of a --data folder without a definition, e.g. roc_auc or "
             "'Area Under ROC Curve' (served in Kaggle's words; without it the listing leaves the metric empty).")] = None,
):
    """Serve a local Kaggle for the stock kaggle client: the demo competition plus each --data folder."""
    setup_logging(False)
    from kagglekit.sandbox import Sandbox

    server = Sandbox(data or [], state_dir=state, host=host, port=port, daily_limit=daily_limit, metric=metric).bind()
    console.print(f"kagglekit sandbox on http://{host}:{server.port} serving {', '.join(sorted(server.bundles))}")
    console.print(f"export this environment (also in {state / 'client.env'}) to point the kaggle client at it:")
    for line in server.export_lines():
        console.print(f"  {line}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        console.print("sandbox stopped; its state is kept in " + str(state))


@command("soak")
def soak(
    submits: Annotated[int, typer.Option(help="Submits, each after a random fault (every tenth sent by two processes at once).")] = 200,
    fetches: Annotated[int, typer.Option(help="Fetches with cut, stalled and unanswered downloads.")] = 50,
    kills: Annotated[int, typer.Option(help="kill -9s at random moments of `train` and of `kernel output`.")] = 4,
    seed: Annotated[Optional[int], typer.Option(help="Seed of the random faults and kill moments.")] = None,
    time_limit: Annotated[float, typer.Option(help="Seconds the soak may take in all.")] = 3600.0,
):
    """Soak the remote steps against a sandbox on loopback with the stock kaggle client; one table of counts."""
    setup_logging(True)
    import logging

    from rich.table import Table

    from kagglekit.core.errors import KagglekitError
    from kagglekit.sandbox.soak import soak as run_soak

    for name, value in (("--submits", submits), ("--fetches", fetches), ("--kills", kills)):
        if value < 0:
            raise KagglekitError(f"{name} {value} is below 0; give a count of 0 or more")
    logging.getLogger("kagglekit").setLevel(logging.ERROR)  # thousands of retry warnings: the table says it all
    result = run_soak(submits, fetches, kills, seed, time_limit)
    table = Table("what", "count", title=f"kagglekit soak ({result.seconds:.0f} s)")
    for name, count in result.counts.items():
        table.add_row(name, str(count))
    table.add_row("problems", str(len(result.problems)))
    console.print(table)
    for problem in result.problems:
        err_console.print(f"problem: {problem}")
    if result.problems:
        raise KagglekitError(f"the soak found {len(result.problems)} problems (listed above)")
