"""Stateless sessions: a time limit, progress saved while they run, and resumption after a crash."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from aegis import Pipeline, Settings
from aegis.runtime.session import SessionTimeoutError, progress_key
from agents.llm.scripted import Scripted, ScriptedClient
from graphs.deliberation.config import DeliberationConfig
from state.clock import SimulatedClock
from state.context_loader import VIX_KEY
from state.decisions import Outcome
from tests.conftest import SESSION_DAY, bundled_bars, signal
from tests.graphs.test_deliberation import APPROVE, LONG, buy

BARS = bundled_bars()


async def _pipeline(tmp_path: Path, client: ScriptedClient, **settings: object) -> Pipeline:
    roles = {r: {**c.model_dump(), "provider": "scripted"} for r, c in DeliberationConfig().roles.items()}
    config = DeliberationConfig.model_validate({"roles": roles, "validation_mode": "sequential"})
    pipeline = await Pipeline.open(
        Settings(data_dir=tmp_path, deliberation=config, **settings),  # type: ignore[arg-type]
        clock=SimulatedClock(BARS[SESSION_DAY].time),
        providers={"scripted": client},
    )
    for bar in BARS[SESSION_DAY - 119 : SESSION_DAY + 1]:
        await pipeline.services.hot.push_bar("AAPL", bar)
    await pipeline.services.hot.set_value(VIX_KEY, 14.0)
    return pipeline


async def test_a_session_past_its_time_limit_fails_and_records_no_decision(tmp_path: Path) -> None:
    client = ScriptedClient({"analyst": [LONG], "validator": [APPROVE], "commander": [Scripted(HOLD_LATE, delay_s=2)]})
    async with await _pipeline(tmp_path, client, session_timeout_s=0.3) as pipeline:
        with pytest.raises(SessionTimeoutError, match="ran past"):
            await pipeline.submit(signal("slow-session", BARS[SESSION_DAY]))
        assert await pipeline.services.store.get_decision("slow-session") is None


HOLD_LATE = {"action": "hold", "size_pct": 0, "order_type": "limit", "rationale": "late"}


async def test_progress_is_saved_while_a_session_runs(tmp_path: Path) -> None:
    client = ScriptedClient(
        {"analyst": [LONG], "validator": [APPROVE], "commander": [Scripted(HOLD_LATE, delay_s=0.3)]}
    )
    async with await _pipeline(tmp_path, client, incremental_save_s=0.05) as pipeline:
        session = asyncio.create_task(pipeline.submit(signal("journaled", BARS[SESSION_DAY])))
        await asyncio.sleep(0.2)  # the commander is thinking: analyst and validator are done
        saved = await pipeline.services.store.get_value(progress_key("journaled"))
        decision = await session
    assert saved is not None
    progress, _ = saved
    assert {"normalize", "load_context", "analyst", "validator"} <= set(progress["nodes_done"])
    assert "persist" not in progress["nodes_done"]
    assert [s["stage"] for s in progress["stages"]] == ["analyst", "validator"]
    assert decision.outcome is Outcome.HOLD


async def test_a_session_killed_mid_run_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    slow_commander = Scripted(buy(BARS[SESSION_DAY].close), delay_s=5)
    client = ScriptedClient({"analyst": [LONG], "validator": [APPROVE], "commander": [slow_commander]})
    async with await _pipeline(tmp_path, client, checkpoint_durability="sync") as pipeline:
        session = asyncio.create_task(pipeline.submit(signal("crashy", BARS[SESSION_DAY])))
        while client.calls("commander") == 0:  # noqa: ASYNC110 - polling the scripted client is simplest here
            await asyncio.sleep(0.01)
        session.cancel()  # the worker dies while the commander is thinking
        with pytest.raises(asyncio.CancelledError):
            await session
    assert (client.calls("analyst"), client.calls("validator")) == (1, 1)

    fast = ScriptedClient({"analyst": [LONG], "validator": [APPROVE], "commander": [buy(BARS[SESSION_DAY].close)]})
    async with await _pipeline(tmp_path, fast, checkpoint_durability="sync") as pipeline:
        decision = await pipeline.submit(signal("crashy", BARS[SESSION_DAY]))
    assert decision.outcome is Outcome.ORDERED
    assert (fast.calls("analyst"), fast.calls("validator"), fast.calls("commander")) == (0, 0, 1)
    assert [s.stage for s in decision.stages] == ["analyst", "validator", "commander", "rune"]
