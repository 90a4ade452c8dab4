"""Time at the front door of a session: an old event is stale and screened out, whatever its market data;
dates far in the past (1900, year 1) place nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agents.llm.scripted import ScriptedClient
from state.clock import SimulatedClock
from state.decisions import Outcome
from state.events import Bar
from tests.conftest import PipelineFactory, signal
from tests.graphs.test_deliberation import APPROVE, LONG, buy


def client(bar: Bar) -> ScriptedClient:
    return ScriptedClient({"analyst": [LONG], "validator": [APPROVE], "commander": [buy(bar.close)]})


@pytest.mark.parametrize(("age_s", "stale"), [(0.0, False), (300.0, False), (300.001, True), (86_400.0, True)])
async def test_an_event_older_than_the_limit_is_screened_out(
    make_pipeline: PipelineFactory, session_bar: Bar, age_s: float, stale: bool
) -> None:
    pipeline = await make_pipeline(
        {"scripted": client(session_bar)},
        provider="scripted",
        max_market_age_s=1e9,
        risk_limits={"max_reference_age_s": 1e9},
    )
    clock = pipeline.services.clock
    assert isinstance(clock, SimulatedClock)
    clock.set(session_bar.time + timedelta(seconds=age_s))
    decision = await pipeline.submit(signal("aged", session_bar))
    if stale:
        assert decision.outcome is Outcome.SCREENED_OUT and "stale" in decision.reason and decision.order is None
    else:
        assert decision.outcome is Outcome.ORDERED


@pytest.mark.parametrize("when", ["1900-01-01T21:00:00+00:00", "0001-01-01T21:00:00+00:00"])
async def test_events_from_long_ago_place_nothing(make_pipeline: PipelineFactory, session_bar: Bar, when: str) -> None:
    pipeline = await make_pipeline({"scripted": client(session_bar)}, provider="scripted")
    raw = signal("ancient", session_bar)
    raw["event_time"] = when
    raw["payload"]["bar"]["time"] = when
    decision = await pipeline.submit(raw)
    assert decision.order is None and decision.outcome in (Outcome.SCREENED_OUT, Outcome.REJECTED)
