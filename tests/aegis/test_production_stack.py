"""The pipeline on the production parts: PostgreSQL records and checkpoints, Redis hot context, and the
fallback to PostgreSQL when Redis fails."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest

from aegis import Pipeline, Settings
from aegis.runtime.feed import MarketFeed
from agents.llm.scripted import ScriptedClient
from graphs.deliberation.config import DeliberationConfig
from state.clock import SimulatedClock
from state.decisions import Outcome
from tests.conftest import SESSION_DAY, bundled_bars, signal
from tests.graphs.test_deliberation import APPROVE, LONG, buy
from tests.services import require_service
from tests.throwaway import ThrowawayRedis, free_port

pytestmark = pytest.mark.services
BARS = bundled_bars()


def _settings(data_dir: Path, postgres: str, redis_url: str, prefix: str = "aegis") -> Settings:
    roles = {r: {**c.model_dump(), "provider": "scripted"} for r, c in DeliberationConfig().roles.items()}
    return Settings(
        data_dir=data_dir,
        postgres_url=postgres,
        redis_url=redis_url,
        redis_prefix=prefix,
        deliberation=DeliberationConfig.model_validate({"roles": roles}),
    )


def _script() -> ScriptedClient:
    return ScriptedClient({"analyst": [LONG], "validator": [APPROVE], "commander": [buy(BARS[SESSION_DAY].close)]})


async def _feed(pipeline: Pipeline, clock: SimulatedClock) -> None:
    feed = MarketFeed(pipeline.services.hot, pipeline.paper_broker, clock)
    for bar in BARS[SESSION_DAY - 119 : SESSION_DAY + 1]:
        await feed.bar("AAPL", bar)
    await feed.vix(14.0)


async def test_records_and_checkpoints_go_to_postgres_and_the_context_comes_from_redis(
    tmp_path: Path, postgres_url: str, redis_namespace: tuple[str, str]
) -> None:
    redis_url, prefix = redis_namespace
    clock = SimulatedClock(BARS[SESSION_DAY].time)
    settings = _settings(tmp_path, postgres_url, redis_url, prefix)
    async with await Pipeline.open(settings, clock=clock, providers={"scripted": _script()}) as pipeline:
        await _feed(pipeline, clock)
        decision = await pipeline.submit(signal("pg-1", BARS[SESSION_DAY]))
        again = await pipeline.submit(signal("pg-1", BARS[SESSION_DAY]))
    assert decision.outcome is Outcome.ORDERED, decision.reason
    assert decision.context_source == "hot" and decision.market_age_s == 0.0
    assert again == decision
    assert not (tmp_path / "records.sqlite").exists() and not (tmp_path / "checkpoints.sqlite").exists()
    async with await psycopg.AsyncConnection.connect(postgres_url) as db:
        decisions = await (await db.execute("SELECT count(*) FROM decisions")).fetchone()
        orders = await (await db.execute("SELECT count(*) FROM orders WHERE event_id = 'pg-1'")).fetchone()
        bars = await (await db.execute("SELECT count(*) FROM market_bars WHERE symbol = 'AAPL'")).fetchone()
        threads = await (await db.execute("SELECT count(DISTINCT thread_id) FROM checkpoints")).fetchone()
    assert decisions == (1,) and orders == (1,) and bars == (120,) and threads == (1,)


async def test_when_redis_dies_sessions_fall_back_to_postgres_and_carry_on(tmp_path: Path, postgres_url: str) -> None:
    binary = shutil.which("redis-server")
    require_service("redis-server", binary is not None, "the redis-server binary is not on PATH")
    assert binary is not None
    redis = ThrowawayRedis(binary, free_port(), tmp_path / "redis")
    (tmp_path / "redis").mkdir()
    redis.start()
    clock = SimulatedClock(BARS[SESSION_DAY].time)
    settings = _settings(tmp_path, postgres_url, redis.url)
    try:
        async with await Pipeline.open(settings, clock=clock, providers={"scripted": _script()}) as pipeline:
            await _feed(pipeline, clock)
            before = await pipeline.submit(signal("before", BARS[SESSION_DAY]))
            redis.kill()
            during = await pipeline.submit(signal("during", BARS[SESSION_DAY]))
            redis.start()  # back, but empty (no persistence): keys are missing, the durable copy serves
            after = await pipeline.submit(signal("after", BARS[SESSION_DAY]))
    finally:
        redis.kill()
    assert before.context_source == "hot"
    assert during.outcome is Outcome.ORDERED, during.reason
    assert during.context_source is not None and "hot store unavailable" in during.context_source
    assert during.quant_report == before.quant_report, "the durable copy holds the same bars"
    assert after.outcome is Outcome.ORDERED
    assert after.context_source is not None and "missing" in after.context_source
