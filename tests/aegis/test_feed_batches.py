"""The feeder's batches on the production stores (PostgreSQL + Redis): a tape fed in batches leaves the same
market state, fills and published events as the same tape fed one line at a time, and a feed that dies in the
middle of a batch resumes without losing or doubling a bar."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest

from aegis import Pipeline, Settings
from aegis.runtime.feeder import TapeFeeder
from evals.bench_priority import tape_ticks
from state.bus.base import EventBus
from state.clock import SimulatedClock
from state.events import Bar
from state.hot import HotStoreError
from tests.production import fresh_database

pytestmark = pytest.mark.services

TICKS = 360  # 30 days of the twelve bundled symbols


class Published:
    def __init__(self) -> None:
        self.ids: list[str] = []

    async def publish(self, event: dict[str, Any]) -> str:
        self.ids.append(str(event.get("id")))
        return str(len(self.ids))


def tape(count: int = TICKS) -> list[str]:
    ticks = tape_ticks(count)
    news = {"id": "n-1", "type": "NEWS", "source": "tape", "event_time": ticks[150]["event_time"]}
    lines = [json.dumps(tick) for tick in ticks]
    lines.insert(151, json.dumps(news))  # an event published between ticks: the batch is sent before it
    return lines


async def open_pipeline(tmp_path: Path, postgres_url: str, redis: tuple[str, str], lines: list[str]) -> Pipeline:
    url, prefix = redis
    settings = Settings(data_dir=tmp_path, postgres_url=postgres_url, redis_url=url, redis_prefix=prefix)
    first = Bar.model_validate(json.loads(lines[0])["payload"]["bar"])
    return await Pipeline.open(settings, clock=SimulatedClock(first.time))


def symbols_of(lines: list[str]) -> list[str]:
    return sorted({json.loads(line)["symbols"][0] for line in lines if "MARKET_TICK" in line})


async def market_state(pipeline: Pipeline, symbols: list[str]) -> dict[str, Any]:
    store, hot = pipeline.services.store, pipeline.services.hot
    return {
        "hot": {s: await hot.hot.bars(s) for s in symbols},
        "durable": {s: await store.recent_bars(s, 10_000) for s in symbols},
        "marks": await store.marks(),
        "fills": await store.fills(),
        "positions": await store.positions(),
        "cash": await store.cash(),
        "day_start": await hot.hot.get_value("book:day_start_equity"),
        "decisions": sorted(d.event_id for d in await store.decisions()),
    }


async def feed(
    tmp_path: Path, redis: tuple[str, str], lines: list[str], batch: int
) -> tuple[dict[str, Any], list[str], int]:
    async with fresh_database() as postgres_url:
        pipeline = await open_pipeline(tmp_path, postgres_url, redis, lines)
        try:
            bus = Published()
            feeder = TapeFeeder(pipeline, cast(EventBus, bus), lines)
            feeder.batch = batch
            await feeder.play()
            return await market_state(pipeline, symbols_of(lines)), bus.ids, feeder.stats.ticks
        finally:
            await pipeline.close()


async def test_a_tape_fed_in_batches_leaves_what_it_leaves_fed_line_by_line(
    tmp_path: Path, redis_namespace: tuple[str, str]
) -> None:
    url, prefix = redis_namespace
    lines = tape()
    one, published_one, ticks_one = await feed(tmp_path / "one", (url, f"{prefix}:one"), lines, batch=1)
    many, published_many, ticks_many = await feed(tmp_path / "many", (url, f"{prefix}:many"), lines, batch=100)
    assert ticks_one == ticks_many == TICKS and published_one == published_many == ["n-1"]
    assert sum(len(bars) for bars in many["durable"].values()) == TICKS
    assert many == one


async def test_a_feed_that_dies_in_a_batch_resumes_without_losing_or_doubling_a_bar(
    tmp_path: Path, postgres_url: str, redis_namespace: tuple[str, str]
) -> None:
    lines = tape(240)
    pipeline = await open_pipeline(tmp_path, postgres_url, redis_namespace, lines)
    try:
        hot = pipeline.services.hot
        real = hot.hot.push_batch
        sent = [0]

        async def dies_on_the_third_batch(bars: Any, values: Any = ()) -> Any:
            sent[0] += 1
            if sent[0] == 3:
                await real(bars[: len(bars) // 2], values)  # half of it reached Redis, then the feed died
                raise HotStoreError("the feed died here")
            return await real(bars, values)

        hot.hot.push_batch = dies_on_the_third_batch  # type: ignore[method-assign]
        feeder = TapeFeeder(pipeline, cast(EventBus, Published()), lines)
        feeder.batch = 50
        with pytest.raises(HotStoreError):
            await feeder.play()
        assert 0 < feeder.position < len(lines)
        await feeder.play()  # the restart: from the first line not sent
        assert feeder.stats.ticks == 240
        for symbol in symbols_of(lines):
            expected = [Bar.model_validate(json.loads(line)["payload"]["bar"]) for line in lines
                        if f'"{symbol}"' in line and "MARKET_TICK" in line]  # fmt: skip
            assert list(await hot.hot.bars(symbol)) == expected[-120:]
            assert await pipeline.services.store.recent_bars(symbol, 10_000) == expected
    finally:
        await pipeline.close()
