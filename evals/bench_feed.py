"""Benchmark: `aegis feed` of a tick-only tape into Redis (mirrored to PostgreSQL), beside the same writes
issued directly through the client libraries.

    python -m evals.bench_feed [--ticks 15096] [--repeats 3]

The tape: `ticks` MARKET_TICK lines of the bundled daily bars, day by day, every symbol on each day (a live
feed's order; the whole bundle is 15,096 ticks: 12 symbols, 1,258 days), no other event.

Subject: the function `aegis feed TAPE` runs (`aegis.cli.feed.play_supervised` over a `TapeFeeder` on a
pipeline opened with PostgreSQL and Redis, beside its health monitor), in-process, timed from the first line to
the last (the pipeline's opening and migrations are not timed). Everything a tick does is in it: the paper
broker (fills, stops, the mark), the hot store and its PostgreSQL mirror, the risk monitor, the anomaly watch
(and the sessions of the anomalies it submits), the bot supervisor, the daily operations.

Floor: the same writes, issued directly, in batches of the feeder's size: each batch one PostgreSQL
transaction (`executemany` of the bars into `market_bars`, the newest mark per symbol into `marks`, the
day-start equity of each new day into `hot_values`) and one pipelined Redis round trip (each bar's entry
RPUSHed onto its symbol's list and the list trimmed to the window, the day-start equity SET), on the same keys
and tables. No reads, no broker, no monitor: what the writes alone cost.

Each repeat runs the floor, then the subject, each on a fresh database and key prefix (`evals.bench_setup`);
after each run the rows and list entries are counted (every tick's bar in `market_bars`, each symbol's window
full in Redis). Prints the median (min..max) of the repeats, the target (10,000 ticks/s) and the ratio; asserts
nothing. Servers: AEGIS_BENCH_POSTGRES_URL (admin URL) and AEGIS_BENCH_REDIS_URL, as `evals.bench_workers`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
import redis.asyncio as aioredis

from aegis import Pipeline
from aegis.cli.feed import play_supervised
from aegis.runtime.bus_factory import open_bus
from aegis.runtime.feeder import TICKS_PER_BATCH, TapeFeeder
from evals.bench_priority import tape_ticks
from evals.bench_setup import Deployment, deployment
from state.clock import SimulatedClock
from state.context_loader import DAY_START_EQUITY_KEY
from state.events import Bar
from state.redis_hot import time_key
from state.store.factory import migrate
from state.store.sql_market import PUT_VALUE, SAVE_BAR, SAVE_MARK

TARGET_TICKS_PER_S = 10_000.0
STARTING_EQUITY = 100_000.0  # the floor's day-start equity (the value's size is what counts)


@dataclass(frozen=True)
class Run:
    ticks: int
    wall_s: float
    bars_stored: int  # rows of market_bars after the run
    bars_hot: int  # entries of the symbols' Redis windows after the run

    @property
    def per_second(self) -> float:
        return self.ticks / self.wall_s


def tape_lines(count: int) -> list[str]:
    return [json.dumps(tick, sort_keys=True, separators=(",", ":")) for tick in tape_ticks(count)]


def tick_bars(lines: list[str]) -> list[tuple[str, Bar]]:
    parsed = [json.loads(line) for line in lines]
    return [(tick["symbols"][0], Bar.model_validate(tick["payload"]["bar"])) for tick in parsed]


async def written(dep: Deployment, symbols: set[str]) -> tuple[int, int]:
    """(rows of market_bars, entries of the symbols' hot windows) in the deployment."""
    async with await psycopg.AsyncConnection.connect(dep.postgres_url) as conn:
        cursor = await conn.execute("SELECT count(*) FROM market_bars")
        row = await cursor.fetchone()
    client = aioredis.Redis.from_url(dep.redis_url)
    try:
        hot = sum([await client.llen(f"{dep.prefix}:hot:bars:{symbol}") for symbol in symbols])
    finally:
        await client.aclose()
    return (int(row[0]) if row else 0), hot


async def feed_run(dep: Deployment, folder: Path, lines: list[str]) -> Run:
    """`aegis feed`'s tape path (`aegis.cli.feed._feed`), timed around the play."""
    settings = dep.settings(folder)
    clock = SimulatedClock(datetime.fromisoformat(json.loads(lines[0])["event_time"]))
    bus = open_bus(settings)
    try:
        async with await Pipeline.open(settings, clock=clock) as pipeline:
            feeder = TapeFeeder(pipeline, bus, lines)
            started = time.perf_counter()
            stats = await play_supervised(pipeline, bus, feeder)
            wall = time.perf_counter() - started
    finally:
        await bus.close()
    stored, hot = await written(dep, {symbol for symbol, _ in tick_bars(lines)})
    return Run(stats.ticks, wall, stored, hot)


async def floor_run(dep: Deployment, lines: list[str], window: int) -> Run:
    """The feed's writes for these ticks, issued directly: one transaction and one pipeline per batch."""
    await migrate(dep.postgres_url)
    ticks = tick_bars(lines)
    prefix = f"{dep.prefix}:hot"
    client = aioredis.Redis.from_url(dep.redis_url, decode_responses=True)
    bars_sql, marks_sql, values_sql = (query.replace("?", "%s") for query in (SAVE_BAR, SAVE_MARK, PUT_VALUE))
    try:
        async with await psycopg.AsyncConnection.connect(dep.postgres_url, autocommit=True) as conn:
            started = time.perf_counter()
            day = None
            for start in range(0, len(ticks), TICKS_PER_BATCH):
                batch = ticks[start : start + TICKS_PER_BATCH]
                bars, marks, values = [], {}, []
                pipe = client.pipeline(transaction=False)
                for symbol, bar in batch:
                    text = bar.model_dump_json()
                    bars.append((symbol, bar.time.isoformat(), text))
                    marks[symbol] = (symbol, bar.close, bar.time.isoformat())
                    key = f"{prefix}:bars:{symbol}"
                    pipe.rpush(key, f"{time_key(bar.time)}|{text}")
                    pipe.ltrim(key, -window, -1)
                    if bar.time.date() != day:
                        day = bar.time.date()
                        values.append((DAY_START_EQUITY_KEY, json.dumps(STARTING_EQUITY), bar.time.isoformat()))
                        pipe.set(f"{prefix}:value:{DAY_START_EQUITY_KEY}", json.dumps(STARTING_EQUITY))
                async with conn.transaction(), conn.cursor() as cursor:
                    await cursor.executemany(bars_sql, bars)
                    await cursor.executemany(marks_sql, list(marks.values()))
                    if values:
                        await cursor.executemany(values_sql, values)
                await pipe.execute()
            wall = time.perf_counter() - started
    finally:
        await client.aclose()
    stored, hot = await written(dep, {symbol for symbol, _ in ticks})
    return Run(len(ticks), wall, stored, hot)


async def runs(admin: str, redis_url: str, count: int, repeats: int) -> tuple[list[Run], list[Run]]:
    lines = tape_lines(count)
    feeds, floors = [], []
    with tempfile.TemporaryDirectory(prefix="aegis-bench-feed-") as tmp:
        for n in range(repeats):
            async with deployment(admin, redis_url) as dep:
                floors.append(await floor_run(dep, lines, dep.settings(Path(tmp)).hot_window_bars))
            async with deployment(admin, redis_url) as dep:
                feeds.append(await feed_run(dep, Path(tmp) / f"feed-{n}", lines))
    return feeds, floors


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} ({min(values):.0f}..{max(values):.0f})"


def report(feeds: list[Run], floors: list[Run], symbols: int) -> None:
    ticks = feeds[0].ticks
    print(f"bench_feed: {ticks} ticks of the bundled daily bars ({symbols} symbols), tick-only tape, batches of "
          f"{TICKS_PER_BATCH} lines; PostgreSQL, Redis on 127.0.0.1; {len(feeds)} runs, median (min..max)")  # fmt: skip
    for name, runs_ in (("aegis feed", feeds), ("floor", floors)):
        for run in runs_:
            print(f"  {name}: {run.ticks} ticks in {run.wall_s:.2f} s; market_bars rows {run.bars_stored}, "
                  f"hot window entries {run.bars_hot}")  # fmt: skip
    feed_rate = statistics.median(r.per_second for r in feeds)
    floor_rate = statistics.median(r.per_second for r in floors)
    target = f">= {TARGET_TICKS_PER_S:,.0f}"
    rows = [
        ("aegis feed, ticks/s", spread([r.per_second for r in feeds]), target,
         "yes" if feed_rate >= TARGET_TICKS_PER_S else "NO"),
        ("floor: same writes direct, ticks/s", spread([r.per_second for r in floors]), "", ""),
        ("aegis feed / floor", f"{feed_rate / floor_rate:.3f}x", "", ""),
    ]  # fmt: skip
    print()
    print(f"| {'measure':34} | {'value':>22} | {'target':>9} | met |")
    print(f"|{'-' * 36}|{'-' * 24}|{'-' * 11}|-----|")
    for name, value, goal, met in rows:
        print(f"| {name:34} | {value:>22} | {goal:>9} | {met:>3} |")


async def main(count: int, repeats: int) -> None:
    admin = os.environ.get("AEGIS_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("AEGIS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    feeds, floors = await runs(admin, redis_url, count, repeats)
    symbols = {symbol for symbol, _ in tick_bars(tape_lines(count))}
    report(feeds, floors, len(symbols))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ticks", type=int, default=15_096, help="ticks of the tape (the whole bundle: 15,096)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of the floor and the subject, interleaved")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.ticks, arguments.repeats))
