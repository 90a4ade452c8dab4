"""`aegis eval` (also `python -m evals`): build the event sets, run one, report, compare two runs, gate.

aegis eval build --out evals/sets
aegis eval run evals/sets/development --llm rules --out runs/dev-rules --concurrency 4
aegis eval --compare runs/dev-rules runs/dev-new
aegis eval gate
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from aegis.llm_mode import LLMMode

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
) -> None:
    """Build the development and holdout sets from the bundled daily data (reproducible)."""
    import dataclasses

    from evals.progress import Steps
    from evals.sets import GATE, STANDARD_SETS, build_set

    specs = tuple(dataclasses.replace(s, bots=bots) for s in (*STANDARD_SETS, *((GATE,) if gate else ())))
    built = []
    with Steps("building the sets", len(specs), console=console) as steps:
        for spec in specs:
            steps.describe(spec.name)
            built.append((spec.name, build_set(spec, out)))
            steps.advance()
    for name, folder in built:
        console.print(f"{name}: {folder}")


@app.command("run")
def run(
    set_folder: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="A set built by `build`")],
    out: Annotated[Path, typer.Option(help="Folder for the run's files")] = Path("data") / "evals" / "latest",
    llm: Annotated[LLMMode, typer.Option(help="Providers for the roles")] = LLMMode.RULES,
    cassettes: Annotated[Path | None, typer.Option(help="Cassette folder for --llm replay / record")] = None,
    concurrency: Annotated[
        int, typer.Option(min=1, help="Sessions deliberating at once (the decisions are the same at any value)")
    ] = 4,
) -> None:
    """Replay a set through the graph, write decisions, timings, scores, the report and its charts."""
    from evals.report import score_table, write_report
    from evals.runner import RunOptions, run_set

    try:
        run_set(set_folder, out, RunOptions(llm=llm, cassettes=cassettes, concurrency=concurrency))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
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
