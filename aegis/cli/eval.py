"""`aegis eval` (also `python -m evals`): build the event sets, run one, report, compare two runs, gate.

aegis eval build --out evals/sets
aegis eval build --data sp20 --windows 2019-01-01:2019-12-31 --tickers AAPL,MSFT --out evals/mine
aegis eval build --gate --masked --after-cutoff analyst --out evals/mine
aegis eval run evals/sets/development --llm rules --out runs/dev-rules --concurrency 4 --prompts
aegis eval audit runs/dev-rules
aegis eval --compare runs/dev-rules runs/dev-new
aegis eval gate
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from aegis.llm_mode import LLMMode

if TYPE_CHECKING:
    from evals.sets import SetSpec
    from tools.feeds.datasets import Dataset

# The `evals` modules are imported inside the commands: they import this package (`decision_summary`)
# and matplotlib, which no other `aegis` command should pay for.

app = typer.Typer(no_args_is_help=False, add_completion=False, help="The offline eval suite.")
console = Console()


@app.callback(invoke_without_command=True)
def _root(
    context: typer.Context,
    compare: Annotated[
        tuple[Path, Path] | None, typer.Option(help="Two run folders A B: what changed from A to B")
    ] = None,
    set_folder: Annotated[Path | None, typer.Option("--set", help="The set of the runs (default: from A)")] = None,
) -> None:
    """The offline eval suite: recorded real-market events, scored decisions, a regression gate."""
    if compare is not None:
        from evals.report import compare_runs
        from evals.runner import RUN_FILE

        run_a, run_b = compare
        folder = set_folder or Path(json.loads((run_a / RUN_FILE).read_text(encoding="utf-8"))["set"])
        typer.echo(compare_runs(folder, run_a, run_b))
        raise typer.Exit()
    if context.invoked_subcommand is None:
        typer.echo(context.get_help())


@app.command("build")
def build(
    out: Annotated[Path, typer.Option(help="Folder for the sets")] = Path("evals") / "sets",
    gate: Annotated[bool, typer.Option(help="Also build the small gate set")] = False,
    bots: Annotated[
        bool, typer.Option(help="Give each event the reference bot whose universe holds it (scores split by bot)")
    ] = False,
    data: Annotated[
        str | None, typer.Option(help="An imported dataset (`aegis data import`) (default: the bundled data)")
    ] = None,
    windows: Annotated[
        str | None,
        typer.Option(
            help="Event windows START:END[,START:END...] (YYYY-MM-DD, inclusive), one set each "
            "(default: the development and holdout windows)"
        ),
    ] = None,
    tickers: Annotated[
        str | None, typer.Option(help="Comma-separated tickers (default: all of the data's; the gate set's own)")
    ] = None,
    masked: Annotated[
        bool,
        typer.Option(help="Also write each set masked (<name>-masked: aliased tickers, shifted dates, rebased prices)"),
    ] = False,
    after_cutoff: Annotated[
        str | None,
        typer.Option(
            "--after-cutoff",
            metavar="ROLE|DATE",
            help="Also write each set with only the events after a knowledge cutoff (<name>-after-<date>): a "
            "role's model's cutoff from the provider catalog, or a date YYYY-MM-DD",
        ),
    ] = None,
) -> None:
    """Build event sets from daily data (reproducible): by default the development and holdout sets from the
    bundled data; with --data / --windows / --tickers, sets of your own data, windows and tickers."""
    from evals.progress import Steps
    from evals.sets import build_set

    cutoff = _cutoff(after_cutoff)
    specs, dataset = _build_specs(data, windows, tickers, gate=gate, bots=bots)
    if cutoff is not None:  # refused before anything is built: a set that ends by the cutoff keeps no event
        early = [spec for spec in specs if spec.end <= cutoff[0]]
        if early:
            raise typer.BadParameter(
                f"set {early[0].name!r} ends {early[0].end}, by the knowledge cutoff {cutoff[0]} ({cutoff[1]}): no "
                "event of it comes after; build a set from newer data (`aegis data import`)",
                param_hint="'--after-cutoff'",
            )
    built = []
    with Steps("building the sets", len(specs), console=console) as steps:
        for spec in specs:
            steps.describe(spec.name)
            try:
                built.append((spec.name, build_set(spec, out, dataset)))
            except ValueError as exc:
                raise typer.BadParameter(str(exc), param_hint="'--windows'") from None
            steps.advance()
    for name, folder in built:
        console.print(f"{name}: {folder}")
    for name, folder in built:
        for derived in _derived_sets(folder, out, cutoff, masked=masked):
            console.print(f"{name}: {derived}")


def _cutoff(value: str | None) -> tuple[date, str] | None:
    """The --after-cutoff date and what it is, checked before anything is built."""
    if value is None:
        return None
    from aegis.settings import Settings
    from evals.cutoff import CutoffError, cutoff_for

    try:
        return cutoff_for(value, Settings())
    except CutoffError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--after-cutoff'") from None


def _derived_sets(folder: Path, out: Path, cutoff: tuple[date, str] | None, *, masked: bool) -> list[Path]:
    """The post-cutoff and masked sets of a built set (the cutoff first: it needs the real dates)."""
    from evals.cutoff import CutoffError, after_cutoff
    from evals.masking import mask_set

    written = []
    if cutoff is not None:
        day, why = cutoff
        try:
            folder = after_cutoff(folder, out / f"{folder.name}-after-{day.isoformat()}", day, why)
        except CutoffError as exc:
            raise typer.BadParameter(str(exc), param_hint="'--after-cutoff'") from None
        written.append(folder)
    if masked:
        written.append(mask_set(folder, out / f"{folder.name}-masked"))
    return written


def _build_specs(
    data: str | None, windows: str | None, tickers: str | None, *, gate: bool, bots: bool
) -> tuple[list[SetSpec], Dataset]:
    """The sets to build and the data they come from, the options checked (one line each)."""
    import dataclasses

    from aegis.runtime.market_data import DataChoiceError, choose_dataset, pick_symbols
    from aegis.settings import Settings
    from evals.sets import GATE, STANDARD_SETS, SetSpec

    try:
        dataset = choose_dataset(Settings().data_dir, data)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--data'") from None
    try:
        symbols = pick_symbols(dataset, tickers.split(",")) if tickers is not None else None
    except DataChoiceError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--tickers'") from None
    if windows is None:
        specs = [*STANDARD_SETS, *((GATE,) if gate else ())]
        if symbols is not None:
            specs = [dataclasses.replace(s, symbols=symbols) for s in specs]
    else:
        prefix = "bundled" if data is None else data
        specs = [SetSpec(f"{prefix}_{start}_{end}", start, end, symbols=symbols) for start, end in _windows(windows)]
    return [dataclasses.replace(s, bots=bots) for s in specs], dataset


def _windows(value: str) -> list[tuple[date, date]]:
    found = []
    for part in (p.strip() for p in value.split(",")):
        start, sep, end = part.partition(":")
        try:
            first, last = date.fromisoformat(start), date.fromisoformat(end)
        except ValueError:
            sep = ""
        if not sep:
            raise typer.BadParameter(f"{part!r} is not START:END (YYYY-MM-DD:YYYY-MM-DD)", param_hint="'--windows'")
        if first > last:
            raise typer.BadParameter(f"window {part} ends before it starts", param_hint="'--windows'")
        found.append((first, last))
    return found


@app.command("run")
def run(
    set_folder: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="A set built by `build`")],
    out: Annotated[Path, typer.Option(help="Folder for the run's files")] = Path("data") / "evals" / "latest",
    llm: Annotated[LLMMode, typer.Option(help="Providers for the roles")] = LLMMode.RULES,
    cassettes: Annotated[Path | None, typer.Option(help="Cassette folder for --llm replay / record")] = None,
    concurrency: Annotated[
        int, typer.Option(min=1, help="Sessions deliberating at once (the decisions are the same at any value)")
    ] = 4,
    prompts: Annotated[
        bool, typer.Option(help="Also write every role's rendered prompt (prompts.jsonl) for `aegis eval audit`")
    ] = False,
) -> None:
    """Replay a set through the graph, write decisions, timings, scores, the report and its charts."""
    from evals.report import score_table, write_report
    from evals.runner import RunOptions, run_set
    from evals.set_folder import check_set_folder

    try:
        check_set_folder(set_folder)  # before anything is replayed
        options = RunOptions(llm=llm, cassettes=cassettes, concurrency=concurrency, prompts=prompts)
        run_set(set_folder, out, options)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'SET_FOLDER'") from None
    scores = write_report(set_folder, out)
    console.print(score_table(scores))
    console.print(f"report: {out / 'report.md'}")


@app.command("report")
def report(
    set_folder: Annotated[Path, typer.Argument(exists=True, file_okay=False)],
    run_folder: Annotated[Path, typer.Argument(exists=True, file_okay=False)],
) -> None:
    """(Re)write the report of an existing run."""
    from evals.report import score_table, write_report

    console.print(score_table(write_report(set_folder, run_folder)))


@app.command("audit")
def audit(
    run_folder: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="A run made with --prompts")],
    set_folder: Annotated[
        Path | None, typer.Option("--set", exists=True, file_okay=False, help="The run's set (default: from run.json)")
    ] = None,
) -> None:
    """Scan a run's recorded prompts for leaked tickers, company names and dates; exit 1 when any is found."""
    from evals.prompt_audit import AuditError, audit_run, leak_summary

    try:
        leaks, prompts = audit_run(run_folder, set_folder)
    except AuditError as exc:
        raise typer.BadParameter(str(exc), param_hint="'RUN_FOLDER'") from None
    for leak in leaks:
        typer.echo(leak.line())
    typer.echo(leak_summary(leaks, prompts))
    if leaks:
        raise typer.Exit(1)


@app.command("gate")
def gate(
    update_baseline: Annotated[bool, typer.Option(help="Write the scores as the new baseline")] = False,
) -> None:
    """Run the small gate set and fail when a score drops past its tolerance."""
    from evals.gate import run_gate

    with console.status("building and replaying the gate set"):  # a spinner on a terminal; silent elsewhere
        if not console.is_terminal:
            console.print("building and replaying the gate set ...")
        failures = run_gate(update_baseline)
    for failure in failures:
        console.print(f"[red]gate failed[/]: {failure}")
    if failures:
        raise typer.Exit(1)
    console.print("baseline written" if update_baseline else "gate passed")
