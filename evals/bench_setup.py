"""The benchmarks' deployment: a fresh database and Redis prefix on the real servers, a bundled AAPL day on
which every event goes the full path, and the events to publish."""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import redis.asyncio as aioredis
from psycopg import sql

from aegis import Pipeline, Settings
from aegis.runtime.bus_factory import open_bus
from aegis.runtime.feed import MarketFeed
from state.clock import SimulatedClock
from state.events import Bar
from tools.feeds.bars import symbol_bars
from tools.feeds.bundled import load_bundled_daily

SYMBOL = "AAPL"
WINDOW = 120
WORKER_CONCURRENCY = 4  # sessions at once per worker, as `aegis worker` runs by default
MAX_MARKET_AGE_S = 1e10  # the workers run on the wall clock; the bundled bars are from 2012-2017
# Every event orders one share of AAPL on the same old bar: the account's limits must leave room for all of
# them (concentration) and accept the bar's price as the reference (its age on the wall clock).
RISK_LIMITS = {"max_concentration_pct": 100.0, "max_reference_age_s": MAX_MARKET_AGE_S}


def buy(price: float) -> dict[str, Any]:
    return {
        "action": "buy", "size_pct": 0.1, "order_type": "limit", "limit_price": price,
        "stop_loss_pct": 1.0, "take_profit_pct": 2.0, "rationale": "enter",
    }  # fmt: skip


def signal(event_id: str, bar: Bar) -> dict[str, Any]:
    at = bar.time.isoformat()
    return {
        "id": event_id, "type": "SIGNAL_GENERATED", "source": "bench", "symbols": [SYMBOL], "event_time": at,
        "payload": {"signal": "golden_cross", "direction": "long", "strength": 0.7, "bar": bar.model_dump(mode="json")},
    }  # fmt: skip


# ---- servers -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deployment:
    postgres_url: str
    redis_url: str
    prefix: str

    def settings(self, data_dir: Path, **changes: Any) -> Settings:
        return Settings(
            data_dir=data_dir,
            postgres_url=self.postgres_url,
            redis_url=self.redis_url,
            redis_prefix=self.prefix,
            **changes,
        )

    def env(self, data_dir: Path) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("AEGIS_")}
        env.update(
            {
                "AEGIS_POSTGRES_URL": self.postgres_url,
                "AEGIS_REDIS_URL": self.redis_url,
                "AEGIS_REDIS_PREFIX": self.prefix,
                "AEGIS_DATA_DIR": str(data_dir),
                "AEGIS_DELIBERATION__MAX_MARKET_AGE_S": str(MAX_MARKET_AGE_S),
                "AEGIS_DELIBERATION__MAX_EVENT_AGE_S": str(MAX_MARKET_AGE_S),  # old events, on purpose
                **{f"AEGIS_DELIBERATION__RISK_LIMITS__{k.upper()}": str(v) for k, v in RISK_LIMITS.items()},
            }
        )
        return env


@asynccontextmanager
async def deployment(admin_url: str, redis_url: str) -> AsyncIterator[Deployment]:
    """A fresh database and a Redis key prefix of its own; both removed afterwards."""
    name = f"aegis_bench_{uuid.uuid4().hex[:10]}"
    async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as admin:
        await admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    prefix = f"aegis-bench-{uuid.uuid4().hex[:10]}"
    try:
        yield Deployment(f"{admin_url.rpartition('/')[0]}/{name}", redis_url, prefix)
    finally:
        client = aioredis.Redis.from_url(redis_url)
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
        async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as admin:
            await admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


async def ordering_day(folder: Path) -> int:
    """A bundled AAPL day on which the rules deliberation orders (embedded stores, simulated clock)."""
    panel = load_bundled_daily([SYMBOL])
    bars = symbol_bars(panel, SYMBOL)
    for end in range(WINDOW, len(bars)):
        settings = Settings(data_dir=folder / f"probe-{end}", checkpoints=False)
        async with await Pipeline.open(settings, clock=SimulatedClock(bars[end].time)) as pipeline:
            await seed_market(pipeline, bars, end, float(panel.vix[end]))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "durability has no effect" without checkpoints
                decision = await pipeline.submit(signal(f"probe-{end}", bars[end]))
        if decision.outcome == "ordered":
            return end
    raise RuntimeError(f"no bundled {SYMBOL} day leads the rules deliberation to an order")


async def seed_market(pipeline: Pipeline, bars: list[Bar], end: int, vix: float) -> None:
    """The last WINDOW bars up to `end` and the VIX, through the feed (hot store + durable mirror + broker)."""
    assert isinstance(pipeline.services.clock, SimulatedClock)
    feed = MarketFeed(pipeline.services.hot, pipeline.paper_broker, pipeline.services.clock)
    for bar in bars[end - WINDOW + 1 : end + 1]:
        await feed.bar(SYMBOL, bar)
    await feed.vix(vix)


async def publish_full_path_events(dep: Deployment, folder: Path, end: int, events: int, tag: str) -> None:
    """The market up to bar `end` into Redis (mirrored to PostgreSQL), then `events` signals on the bus."""
    panel = load_bundled_daily([SYMBOL])
    bars = symbol_bars(panel, SYMBOL)
    settings = dep.settings(folder)
    async with await Pipeline.open(settings, clock=SimulatedClock(bars[end].time)) as pipeline:
        await seed_market(pipeline, bars, end, float(panel.vix[end]))
    await publish(settings, [signal(f"{tag}-{n}", bars[end]) for n in range(events)])


async def publish(settings: Settings, events: list[dict[str, Any]]) -> None:
    bus = open_bus(settings)
    try:
        for event in events:
            await bus.publish(event)
    finally:
        await bus.close()
