"""`aegis trace ID`: what an event caused, as a tree from its chain's root, each step with its decision.

aegis trace sig-0042-AAPL
aegis trace fill-sig-0042-AAPL-stop_loss --data-dir data/runs/20261203T120000
aegis trace ord-sig-0042-AAPL --json

Any id of a chain finds it (an event's or its decision's, an order's, a fill's, an alert's); the asked step is
marked. The records are those of `--data-dir`, else the settings' own (AEGIS_DATA_DIR, PostgreSQL when
AEGIS_POSTGRES_URL is set), else the latest run's (`<data dir>/runs/<time>`, where `aegis run` writes them).
This module owns how a chain reads on a terminal and as JSON; building it is `aegis.runtime.trace`'s. An
unknown id is one line, exit 2, naming the last decisions' ids.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from aegis.cli.bots import DataDir, on_records
from aegis.runtime.trace import Trace, TraceStep
from aegis.services import RECORDS_FILE
from aegis.settings import Settings

console = Console(soft_wrap=True, highlight=False)


def trace(
    record_id: Annotated[str, typer.Argument(metavar="ID", help="An event, decision, order, fill or alert id")],
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the chain as JSON instead of a tree")] = False,
) -> None:
    """The chain an id belongs to, from its root event: signal, decision, order, fills, the bracket's exit and
    what it caused (posture change, breaker, alerts), each step with its time, kind, decision and id."""
    found = on_records(records_dir(data_dir), lambda pipeline: pipeline.trace(record_id))
    if as_json:
        typer.echo(json.dumps(found.model_dump(mode="json"), indent=2))
        return
    for line in tree_lines(found):
        console.print(escape(line))


def records_dir(data_dir: Path | None) -> Path | None:
    """The records to trace: `data_dir` if given; else None (the settings' own) when they hold records or
    name PostgreSQL; else the latest run's folder under `<data dir>/runs`."""
    if data_dir is not None:
        return data_dir
    settings = Settings(checkpoints=False)
    if settings.postgres_url is not None or (settings.data_dir / RECORDS_FILE).is_file():
        return None
    runs = settings.data_dir / "runs"
    held = sorted(p for p in runs.iterdir() if (p / RECORDS_FILE).is_file()) if runs.is_dir() else []
    if not held:
        raise typer.BadParameter(
            f"no records in {settings.data_dir} nor in {runs}: name a run's folder (aegis run prints it)",
            param_hint="--data-dir",
        )
    return held[-1]  # run folders are named by their start time: the last is the latest


def tree_lines(chain: Trace) -> list[str]:
    """The chain as a tree: one line per step (time, kind, id, what it was), its decision on the next line."""
    count = f"{len(chain.steps)} step" + ("" if len(chain.steps) == 1 else "s")
    lines = [f"chain {chain.chain_id}: {count} (asked: {chain.asked_id})"]
    for index, step in enumerate(chain.steps):
        branch, stem = _prefixes(chain.steps, index)
        mark = "   <== asked" if step.asked else ""
        lines.append(f"{branch}{step.at:%Y-%m-%d %H:%M}  {step.label}  {step.id}  {step.summary}{mark}".rstrip())
        if step.decision is not None:
            d = step.decision
            lines.append(f"{stem}decision: {d.outcome}: {d.reason} | {d.verdicts}")
    return lines


def _prefixes(steps: tuple[TraceStep, ...], index: int) -> tuple[str, str]:
    """The tree's drawing before step `index` (its own line) and before its decision line."""
    depth = steps[index].depth
    parts = []
    for level in range(1, depth + 1):
        more = _more_siblings(steps, index, level)
        if level == depth:
            parts.append("├─ " if more else "└─ ")
        else:
            parts.append("│  " if more else "   ")
    stem_parts = [("│  " if _more_siblings(steps, index, level) else "   ") for level in range(1, depth + 1)]
    has_children = index + 1 < len(steps) and steps[index + 1].depth > depth
    stem_parts.append("│  " if has_children else "   ")
    return "".join(parts), "".join(stem_parts)


def _more_siblings(steps: tuple[TraceStep, ...], index: int, level: int) -> bool:
    """Whether a later step at `level` shares the ancestor of `steps[index]` at that level."""
    for later in steps[index + 1 :]:
        if later.depth < level:
            return False
        if later.depth == level:
            return True
    return False
