"""A replay applies runs of ticks in one transaction of the embedded store (`replay.ticks_per_commit`): on a
real recorded tape (bundled bars, signals decided by the rules baseline) it decides, fills and marks exactly
as a replay that commits every tick on its own."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from aegis import Pipeline, Settings
from aegis.cli.replay import decision_summary
from aegis.runtime.replay_job import ReplayOptions, run_replay
from aegis.runtime.tape import tape_start
from aegis.runtime.tape_bots import read_tape_bots
from state.clock import SimulatedClock
from state.context_loader import VIX_KEY

SYMBOLS = ("AAPL", "MSFT", "JPM")


@pytest.fixture(scope="module")
def tape(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("recorded")
    path = folder / "tape.jsonl"
    options = ReplayOptions(
        symbols=SYMBOLS, start=date(2013, 1, 2), end=date(2013, 9, 30), days_per_second=0, concurrency=1,
        events_out=path,
    )  # fmt: skip
    asyncio.run(run_replay(Settings(data_dir=folder / "run"), options))
    return path


async def _replayed(tape: Path, folder: Path, per_commit: int) -> dict[str, Any]:
    settings = Settings(data_dir=folder)
    replay = settings.replay.model_copy(update={"ticks_per_commit": per_commit})
    settings = settings.model_copy(update={"replay": replay})
    async with await Pipeline.open(settings, clock=SimulatedClock(tape_start(tape))) as pipeline:
        decisions = await pipeline.replay(tape, bots=await read_tape_bots(tape))
        store, hot = pipeline.services.store, pipeline.services.hot
        return {
            "decisions": [decision_summary(d) for d in decisions],
            "fills": [f.model_dump(mode="json") for f in await store.fills()],
            "positions": [p.model_dump(mode="json") for p in await store.positions()],
            "cash": await store.cash(),
            "marks": await store.marks(),
            "broker": (pipeline.paper_broker.cash(), pipeline.paper_broker.marks()),
            "bars": {s: [b.model_dump(mode="json") for b in await hot.bars(s)] for s in SYMBOLS},
            "vix": await hot.get_value(VIX_KEY),
        }


async def test_batched_ticks_replay_as_ticks_committed_one_by_one(tape: Path, tmp_path: Path) -> None:
    one_by_one = await _replayed(tape, tmp_path / "one", 1)
    batched = await _replayed(tape, tmp_path / "batched", 1024)
    assert one_by_one["decisions"], "the recorded tape holds signals"
    assert one_by_one["fills"], "the recorded tape's orders fill"
    assert all(one_by_one["bars"].values()) and one_by_one["vix"] is not None
    assert batched == one_by_one
