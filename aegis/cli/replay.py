"""`aegis replay <tape>`: replay recorded events (a tape from `aegis run --events-out`) through the graph."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from aegis.llm_mode import LLMMode, with_llm_mode
from aegis.pipeline import Pipeline
from aegis.settings import Settings
from state.clock import SimulatedClock
from state.decisions import DecisionRecord


def decision_summary(decision: DecisionRecord) -> dict[str, object]:
    """The parts of a decision that a replay must reproduce exactly."""
    return {
        "event_id": decision.event_id,
        "outcome": str(decision.outcome),
        "reason": decision.reason,
        "analysis": decision.analysis,
        "verdict": decision.verdict,
        "command": decision.command,
        "guard_changes": [c.model_dump() for c in decision.guard_changes],
        "order": decision.order.request.model_dump(mode="json") if decision.order else None,
    }


async def replay_tape(settings: Settings, tape: Path) -> list[DecisionRecord]:
    """Replay `tape` on a simulated clock that starts at the tape's first event."""
    with tape.open(encoding="utf-8") as lines:
        first = json.loads(next(lines))
    clock = SimulatedClock(datetime.fromisoformat(first["event_time"]))
    async with await Pipeline.open(settings, clock=clock) as pipeline:
        return await pipeline.replay(tape)


def replay(
    tape: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSON-lines tape of events")],
    llm: Annotated[LLMMode, typer.Option(help="Providers for the roles")] = LLMMode.RULES,
    cassettes: Annotated[Path | None, typer.Option(help="Cassette folder (record / replay)")] = None,
    data_dir: Annotated[Path, typer.Option(help="Folder for this replay's records")] = Path("data") / "replay",
    decisions_out: Annotated[Path | None, typer.Option(help="Write one JSON line per decision here")] = None,
) -> None:
    """Replay a tape: ticks rebuild the market state, every other event is deliberated."""
    try:
        settings = with_llm_mode(Settings(data_dir=data_dir), llm, cassettes)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    decisions = asyncio.run(replay_tape(settings, tape))
    if decisions_out is not None:
        decisions_out.parent.mkdir(parents=True, exist_ok=True)
        text = "".join(json.dumps(decision_summary(d), sort_keys=True) + "\n" for d in decisions)
        decisions_out.write_text(text, encoding="utf-8")
    counts = Counter(str(d.outcome) for d in decisions)
    cost = sum(d.llm_usage.cost_usd for d in decisions)
    console = Console()
    console.print(f"replayed {len(decisions)} events with --llm {llm}: {dict(sorted(counts.items()))}")
    console.print(f"LLM cost ${cost:.4f}; records in {data_dir}")
