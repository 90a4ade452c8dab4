"""The eval runner: replay a set's tape through the real deliberation graph and record what it decided.

    python -m evals run evals/sets/development --llm rules --out runs/dev-rules --concurrency 4

The tape goes through `Pipeline.replay` on a `SimulatedClock` that starts at the tape's first tick, with
embedded stores in a fresh temporary data folder, so nothing of an earlier run leaks in. Events are
replayed wave by wave (a wave: the events of one instant, between market ticks), up to `concurrency`
sessions deliberating at once. Every session of a wave loads its context from the book as of the
instant's start, and the sessions write (risk guard, execute, persist) one at a time in tape order
(`graphs.deliberation.ordering.WaveOrdering`), so the decisions do not depend on the concurrency or on
the scheduling, and that is what makes two runs comparable.

Files written to the output folder:
- ``decisions.jsonl``: one line per event, `decision_summary` plus symbol, posture, usage and LLM calls,
  sorted keys. Nothing wall-clock in it: two runs of the same inputs give byte-identical files.
- ``timings.jsonl``: per event, the wall-clock latency of each recorded stage and of the whole session,
  its wait for its turn in the wave left out (kept apart because it varies from run to run).
- ``run.json``: how the run was made (set, providers, concurrency).
- ``prompts.jsonl`` (with ``RunOptions.prompts``, `aegis eval run --prompts`): every role's rendered prompt, by
  event, in tape order (`evals.prompt_log`), for `aegis eval audit`.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from aegis.cli.replay import decision_summary
from aegis.llm_mode import LLMMode, provider_label, with_llm_mode
from aegis.pipeline import Pipeline
from aegis.runtime.tape_bots import read_tape_bots
from aegis.settings import Settings
from agents.llm.factory import build_clients
from evals.progress import Steps
from evals.prompt_log import PROMPTS_FILE, PromptLog
from evals.set_folder import check_set_folder
from evals.sets import TAPE_FILE
from state.clock import SimulatedClock
from state.decisions import DecisionRecord
from state.events import EventType

DECISIONS_FILE, TIMINGS_FILE, RUN_FILE = "decisions.jsonl", "timings.jsonl", "run.json"
# Stages whose provider is one of these did not call a language model.
NOT_LLM_PROVIDERS = frozenset({None, "rules"})


@dataclass(frozen=True, slots=True)
class RunOptions:
    llm: LLMMode = LLMMode.RULES
    cassettes: Path | None = None
    progress: bool = True
    concurrency: int = 4  # sessions deliberating at once; the decisions are the same at any value
    prompts: bool = False  # also write every role's rendered prompt (prompts.jsonl)


def decision_line(decision: DecisionRecord) -> dict[str, Any]:
    """The reproducible record of one decision: no wall-clock value in it."""
    llm_stages = [s for s in decision.stages if s.provider not in NOT_LLM_PROVIDERS]
    return {
        **decision_summary(decision),
        "symbol": decision.symbol,
        "bot_id": decision.bot_id,
        "event_type": decision.event_type,
        "posture": decision.posture,
        "role_calls": sum(1 for s in decision.stages if s.provider is not None),
        "llm_calls": len(llm_stages),
        "usage": decision.llm_usage.model_dump(),
    }


def timing_line(decision: DecisionRecord, session_ms: float) -> dict[str, Any]:
    """Wall-clock latencies of one event: each recorded stage, and the whole session (less its wait for its turn)."""
    return {
        "event_id": decision.event_id,
        "stages": {s.stage: round(s.latency_ms, 3) for s in decision.stages},
        "total_ms": round(session_ms, 3),
    }


def count_events(tape: Path) -> int:
    """Lines of the tape that the pipeline deliberates (everything but market ticks)."""
    tick = f'"type":"{EventType.MARKET_TICK.value}"'
    with tape.open(encoding="utf-8") as lines:
        return sum(1 for line in lines if line.strip() and tick not in line)


async def replay_set(
    set_folder: Path, settings: Settings, progress: bool, concurrency: int = 1, prompt_log: PromptLog | None = None
) -> tuple[list[DecisionRecord], dict[str, float]]:
    """Replay the set's tape through a fresh pipeline: the decisions and each session's wall-clock ms; with
    `prompt_log`, every request the providers receive is kept there too."""
    tape = set_folder / TAPE_FILE
    with tape.open(encoding="utf-8") as lines:
        first = json.loads(next(lines))
    clock = SimulatedClock(datetime.fromisoformat(first["event_time"]))
    session_ms: dict[str, float] = {}
    with Steps(f"{set_folder.name} events", count_events(tape), shown=progress) as steps:

        def decided(decision: DecisionRecord, ms: float) -> None:
            session_ms[decision.event_id] = ms
            steps.advance()

        bots = await read_tape_bots(tape)  # a set built with --bots: its events belong to the reference bots
        providers = prompt_log.wrap(build_clients(settings.llm)) if prompt_log is not None else None
        async with await Pipeline.open(settings, clock=clock, providers=providers) as pipeline:
            decisions = await pipeline.replay(tape, on_decision=decided, concurrency=concurrency, bots=bots)
    return decisions, session_ms


def run_set(set_folder: Path, out: Path, options: RunOptions = RunOptions()) -> list[DecisionRecord]:
    """Replay the set in `set_folder` (records in a temporary folder), write the run's files to `out`. The
    folder is checked first (`evals.set_folder.check_set_folder`): a `SetFolderError` before any replay."""
    manifest = check_set_folder(set_folder)
    with tempfile.TemporaryDirectory(prefix="aegis-eval-") as data_dir:
        settings = with_llm_mode(Settings(data_dir=Path(data_dir)), options.llm, options.cassettes)
        prompt_log = PromptLog() if options.prompts else None
        replayed = replay_set(set_folder, settings, options.progress, options.concurrency, prompt_log)
        decisions, session_ms = asyncio.run(replayed)
    out.mkdir(parents=True, exist_ok=True)
    if prompt_log is not None:
        prompt_log.write(out / PROMPTS_FILE, (d.event_id for d in decisions))
    else:
        (out / PROMPTS_FILE).unlink(missing_ok=True)  # an earlier run's prompts are not this run's
    _write_lines(out / DECISIONS_FILE, [decision_line(d) for d in decisions])
    _write_lines(out / TIMINGS_FILE, [timing_line(d, session_ms.get(d.event_id, 0.0)) for d in decisions])
    run = {
        "set": str(set_folder),
        "set_name": set_folder.name,
        "llm": str(options.llm),
        "providers": provider_label(settings),
        "concurrency": options.concurrency,
        "data": manifest.get("data"),  # the data the set was built from (source, name, sha256, real fields)
    }
    (out / RUN_FILE).write_text(json.dumps(run, sort_keys=True, indent=1) + "\n", encoding="utf-8")
    return decisions


def _write_lines(path: Path, lines: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(line, sort_keys=True) + "\n" for line in lines), encoding="utf-8")


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
