"""`Pipeline.submit_wave`: the events of one instant deliberate at once, with decisions that do not depend
on the concurrency: all read the book as of the instant's start, then write one at a time in order."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import graphs.deliberation.nodes as nodes_module
import quant.risk_guard
from aegis import Pipeline
from aegis.cli.replay import decision_summary
from aegis.pipeline import tape_lines, tape_steps
from agents.llm.client import LLMReply, LLMRequest
from agents.llm.scripted import ScriptedClient
from quant.risk_guard import GuardDecision
from state.context import SessionContext
from state.decisions import DecisionRecord, Outcome
from state.events import Bar
from state.store.base import Finished, SessionEnd
from tests.conftest import SESSION_DAY, PipelineFactory, bundled_bars, signal
from tests.graphs.test_deliberation import APPROVE, LONG, buy

DEADLOCK_GUARD_S = 30.0  # a bound on a hang, never reached when the ordering is right


class WaveClient(ScriptedClient):
    """Long, approve, buy for every event; counts the analyst calls in flight. An analyst call may wait
    until `rendezvous` of them are in flight at once, and the analyst of `held_back` until the commanders
    of all other events have answered."""

    def __init__(self, bar: Bar, *, rendezvous: int = 0, held_back: str | None = None, others: int = 0) -> None:
        super().__init__({"analyst": [LONG], "validator": [APPROVE], "commander": [buy(bar.close)]})
        self.rendezvous, self.held_back, self.others = rendezvous, held_back, others
        self.analysts_in_flight = self.peak_analysts_in_flight = 0
        self._all_in, self._others_done = asyncio.Event(), asyncio.Event()

    async def complete(self, request: LLMRequest) -> LLMReply:
        if request.role != "analyst":
            reply = await super().complete(request)
            if request.role == "commander" and self.calls("commander") >= self.others:
                self._others_done.set()
            return reply
        self.analysts_in_flight += 1
        self.peak_analysts_in_flight = max(self.peak_analysts_in_flight, self.analysts_in_flight)
        if self.analysts_in_flight >= self.rendezvous:
            self._all_in.set()
        try:
            await self._all_in.wait()
            if request.facts["event"]["id"] == self.held_back:
                await self._others_done.wait()
            return await super().complete(request)
        finally:
            self.analysts_in_flight -= 1


def _signals(bar: Bar, count: int, prefix: str = "w") -> list[dict[str, Any]]:
    return [signal(f"{prefix}-{n}", bar) for n in range(count)]


@pytest.mark.parametrize("concurrency", [1, 3])
async def test_every_session_of_a_wave_reads_the_book_as_of_the_instant_start(
    make_pipeline: PipelineFactory, session_bar: Bar, concurrency: int
) -> None:
    pipeline = await make_pipeline({"scripted": WaveClient(session_bar)}, provider="scripted")
    wave = await pipeline.submit_wave(_signals(session_bar, 3), concurrency=concurrency)
    assert [d.outcome for d in wave] == [Outcome.ORDERED] * 3
    assert len({d.context_hash for d in wave}) == 1  # none saw the orders or decisions of the others

    one_by_one = [await pipeline.submit(event) for event in _signals(session_bar, 3, prefix="s")]
    assert len({d.context_hash for d in one_by_one}) == 3  # one after another, each sees the last one


async def test_a_wave_writes_in_its_order_whichever_session_deliberates_last(
    make_pipeline: PipelineFactory, session_bar: Bar, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = WaveClient(session_bar, held_back="w-0", others=2)
    pipeline = await make_pipeline({"scripted": client}, provider="scripted")
    saved: list[str] = []
    finish_session = pipeline.services.store.finish_session

    async def spy(record: DecisionRecord, end: SessionEnd, at: datetime) -> Finished | None:
        saved.append(record.event_id)
        return await finish_session(record, end, at)

    monkeypatch.setattr(pipeline.services.store, "finish_session", spy)
    decided: list[str] = []
    wave = await asyncio.wait_for(
        pipeline.submit_wave(
            _signals(session_bar, 3), concurrency=3, on_decision=lambda d, _: decided.append(d.event_id)
        ),
        DEADLOCK_GUARD_S,
    )
    assert client.calls("commander") == 3  # w-0 deliberated last ...
    assert saved == decided == [d.event_id for d in wave] == ["w-0", "w-1", "w-2"]  # ... and wrote first


async def test_sessions_of_a_wave_deliberate_at_once_up_to_the_concurrency(
    make_pipeline: PipelineFactory, session_bar: Bar
) -> None:
    # Each analyst call waits until three are in flight: one session at a time would fail them closed.
    client = WaveClient(session_bar, rendezvous=3)
    pipeline = await make_pipeline({"scripted": client}, provider="scripted")
    wave = await asyncio.wait_for(pipeline.submit_wave(_signals(session_bar, 7), concurrency=3), DEADLOCK_GUARD_S)
    assert client.peak_analysts_in_flight == 3
    assert all(not d.failed_stages for d in wave)
    assert client.calls("analyst") == 7


async def test_a_wave_decides_the_same_at_any_concurrency(
    make_pipeline: PipelineFactory, session_bar: Bar, tmp_path: Path
) -> None:
    runs = []
    for concurrency in (1, 2, 6):
        client = WaveClient(session_bar)
        pipeline = await make_pipeline({"scripted": client}, provider="scripted", data_dir=tmp_path / f"c{concurrency}")
        wave = await pipeline.submit_wave(_signals(session_bar, 6), concurrency=concurrency)
        runs.append([{**decision_summary(d), "context": d.context_hash} for d in wave])
        await pipeline.close()
    assert runs[0] == runs[1] == runs[2]


async def _crash_at_load(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    load = pipeline.services.loader.load

    async def failing(symbol: str | None) -> SessionContext:
        if symbol == "BAD":
            raise RuntimeError("the store went away")
        return await load(symbol)

    monkeypatch.setattr(pipeline.services.loader, "load", failing)


async def _crash_at_risk_guard(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    guard = quant.risk_guard.guard_order

    def failing(proposal: Any, **kwargs: Any) -> GuardDecision:
        if proposal.symbol == "BAD":
            raise RuntimeError("a bug in the guard")
        return guard(proposal, **kwargs)

    monkeypatch.setattr(nodes_module, "guard_order", failing)


@pytest.mark.parametrize("crash", [_crash_at_load, _crash_at_risk_guard], ids=["before-reading", "holding-its-turn"])
async def test_a_session_that_raises_does_not_hold_up_its_wave(
    make_pipeline: PipelineFactory, session_bar: Bar, monkeypatch: pytest.MonkeyPatch, crash: Any
) -> None:
    pipeline = await make_pipeline({"scripted": WaveClient(session_bar)}, provider="scripted")
    for bar in bundled_bars()[SESSION_DAY - 119 : SESSION_DAY + 1]:
        await pipeline.services.hot.push_bar("BAD", bar)
    await crash(pipeline, monkeypatch)
    events = _signals(session_bar, 4)
    events[1] = signal("w-bad", session_bar, symbol="BAD")
    decided: list[DecisionRecord] = []
    with pytest.raises(RuntimeError, match=r"went away|bug in the guard"):
        await asyncio.wait_for(
            pipeline.submit_wave(events, concurrency=2, on_decision=lambda d, _: decided.append(d)), DEADLOCK_GUARD_S
        )
    assert [d.event_id for d in decided] == ["w-0", "w-2", "w-3"]
    assert all(d.outcome is Outcome.ORDERED for d in decided)
    assert await pipeline.services.store.get_decision("w-bad") is None


def test_a_tape_splits_into_waves_at_ticks_new_instants_and_repeated_ids(session_bar: Bar) -> None:
    later = session_bar.model_copy(update={"time": session_bar.time + timedelta(days=1)})
    tick = {"type": "MARKET_TICK", "id": "t", "source": "test", "symbols": ["AAPL"],
            "event_time": later.time.isoformat(), "payload": {"bar": later.model_dump(mode="json")}}  # fmt: skip
    a, b, c = (signal(i, session_bar) for i in "abc")
    d = signal("d", later)
    text = "\n".join(json.dumps(line) for line in (a, b, a, c, tick, d)) + "\nnot json\n"
    steps = [s if isinstance(s, list) else "tick" for s in tape_steps(tape_lines(text, "tape.jsonl"))]
    ids = [[e.get("id") for e in step] if isinstance(step, list) else step for step in steps]
    assert ids == [["a", "b"], ["a", "c"], "tick", ["d"], [None]]
