"""Benchmark scenario (d) of `evals.bench_workers`: an anomaly published behind a backlog of ticks.

    python -m evals.bench_workers --scenario priorities [--ticks 10000] [--repeats 3]

Each run: `ticks` MARKET_TICK events (real bundled daily bars of the twelve bundled symbols, day by day, all
normal priority) are published on a fresh bus; one in-process worker (`aegis.runtime.worker.Worker`,
concurrency 4) starts on them; once it has applied its first batch of ticks, one ANOMALY_DETECTED of priority
critical is published (a HIGH `market.price_move` on AAPL: the anomaly flow blocks new entries in AAPL; one on
JNJ was handled before the ticks were published, so that the flow's first run in the process is not timed). The
time to its action runs from just before `publish` to the end of its handling (the decision persisted, the
symbol's trading state changed: both checked after the run, the change in the audit log); the ticks ahead of
it are those the worker applied before its session began. The tick throughput is the ticks over the span
from the first tick batch's start to the last one's end. The floor: the same anomaly's session alone (on
another symbol, after the run, nothing else running), timed around `Pipeline.submit`.

Each run is done with the priority read (the bus's classes) and with a single-class read (the bus as it was
before classes: the anomaly waits behind the ticks, FIFO), on the in-process bus (embedded stores: SQLite,
in-process hot context) and on Redis Streams (the production stores: PostgreSQL, Redis hot context mirrored
to PostgreSQL), a fresh deployment each time. Prints the median and the spread (min..max) of `repeats` runs
beside the 100 ms target; asserts nothing.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aegis import Pipeline, Settings
from aegis.runtime.worker import Worker
from evals.bench_setup import WORKER_CONCURRENCY, Deployment, deployment
from state.bus.base import EventBus
from state.bus.memory import InMemoryBus
from state.bus.redis_streams import RedisStreamsBus
from state.clock import SimulatedClock
from state.decisions import Outcome
from state.events import Bar
from tools.feeds.bars import symbol_bars
from tools.feeds.bundled import load_bundled_daily
from tools.feeds.tape import tick_event

TARGET_ACTION_MS = 100.0
ANOMALY_SYMBOL = "AAPL"
BUSES = ("memory", "redis")
READS = ("priority", "fifo")


def tape_ticks(count: int) -> list[dict[str, Any]]:
    """`count` ticks of the bundled bars, day by day, every symbol on each day (a live feed's order)."""
    panel = load_bundled_daily()
    per_symbol = [symbol_bars(panel, symbol) for symbol in panel.symbols]
    ticks: list[dict[str, Any]] = []
    for day in range(min(len(bars) for bars in per_symbol)):
        for symbol, bars in zip(panel.symbols, per_symbol, strict=True):
            ticks.append(tick_event(symbol, bars[day]))
            if len(ticks) == count:
                return ticks
    raise ValueError(f"the bundled bars hold fewer than {count} ticks")


def first_bar(ticks: list[dict[str, Any]]) -> Bar:
    return Bar.model_validate(ticks[0]["payload"]["bar"])


def anomaly(at: Bar, event_id: str = "bench-anomaly", symbol: str = ANOMALY_SYMBOL) -> dict[str, Any]:
    return {
        "id": event_id, "type": "ANOMALY_DETECTED", "source": "bench", "priority": "critical",
        "symbols": [symbol], "event_time": at.time.isoformat(),
        "payload": {"rule": "market.price_move", "severity": "HIGH", "evidence": {"move_pct": 9.0}},
    }  # fmt: skip


@dataclass(frozen=True)
class Run:
    bus: str
    read: str
    action_ms: float  # publish -> the anomaly's decision persisted (its action done)
    ticks_ahead: int  # ticks the worker applied before the anomaly's session began
    ticks: int
    ticks_s: float  # first tick batch start -> last tick batch end
    alone_ms: float  # the same anomaly's session (on another symbol) submitted with nothing else running

    @property
    def ticks_per_s(self) -> float:
        return self.ticks / self.ticks_s if self.ticks_s > 0 else float("nan")


class TimedWorker(Worker):
    """The worker, timestamping its tick batches and the anomaly's handling (no product code changed)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.first_tick_at: float | None = None
        self.last_tick_at = 0.0
        self.first_batch_done = asyncio.Event()
        self.anomaly_began: int | None = None  # ticks applied when its session began
        self.anomaly_done_at: float | None = None

    async def apply_ticks(self, ticks: Any) -> None:
        if self.first_tick_at is None:
            self.first_tick_at = time.perf_counter()
        await super().apply_ticks(ticks)
        self.last_tick_at = time.perf_counter()
        self.first_batch_done.set()

    async def handle(self, delivery: Any) -> None:
        anomalous = delivery.event.get("type") == "ANOMALY_DETECTED"
        if anomalous:
            self.anomaly_began = self.stats.ticks
        await super().handle(delivery)
        if anomalous:
            self.anomaly_done_at = time.perf_counter()


async def one_run(pipeline: Pipeline, bus: EventBus, ticks: list[dict[str, Any]], bus_name: str, read: str) -> Run:
    for tick in ticks:
        await bus.publish(tick)
    worker = TimedWorker(pipeline, bus, "bench", concurrency=WORKER_CONCURRENCY, block_ms=50)
    running = asyncio.create_task(worker.run(until_idle=True))
    await asyncio.wait_for(worker.first_batch_done.wait(), 60)
    published_at = time.perf_counter()
    await bus.publish(anomaly(first_bar(ticks)))
    stats = await running
    decision = await pipeline.services.store.get_decision("bench-anomaly")
    # The block may have ended by itself since (its cooldown, on the clock the ticks move), and the ticks' own
    # anomalies (the anomaly monitor on the feed) change trading states too: the decision says what it did.
    done = (decision.operation or {}).get("done", []) if decision is not None else []
    blocked = any(f"new entries in {ANOMALY_SYMBOL} blocked" in line for line in done)
    if decision is None or decision.outcome is not Outcome.APPLIED or not blocked:
        raise RuntimeError(f"the anomaly's action was not done: {decision and decision.reason}")
    if stats.ticks != len(ticks) or worker.anomaly_done_at is None or worker.first_tick_at is None:
        raise RuntimeError(f"the worker applied {stats.ticks} of {len(ticks)} ticks ({stats})")
    started = time.perf_counter()  # the floor: the session alone, in the same deployment, nothing else running
    alone = await pipeline.submit(anomaly(first_bar(ticks), "bench-anomaly-alone", "MSFT"))
    alone_ms = (time.perf_counter() - started) * 1000
    if alone.outcome is not Outcome.APPLIED:
        raise RuntimeError(f"the lone anomaly's action was not done: {alone.reason}")
    return Run(
        bus_name, read, (worker.anomaly_done_at - published_at) * 1000, worker.anomaly_began or 0,
        stats.ticks, worker.last_tick_at - worker.first_tick_at, alone_ms,
    )  # fmt: skip


async def memory_run(folder: Path, ticks: list[dict[str, Any]], read: str) -> Run:
    clock = SimulatedClock(first_bar(ticks).time)
    async with await Pipeline.open(Settings(data_dir=folder), clock=clock) as pipeline:
        bus = InMemoryBus(single_class=read == "fifo")
        try:
            return await one_run(pipeline, bus, ticks, "memory", read)
        finally:
            await bus.close()


async def redis_run(dep: Deployment, folder: Path, ticks: list[dict[str, Any]], read: str) -> Run:
    settings = dep.settings(folder)
    clock = SimulatedClock(first_bar(ticks).time)
    async with await Pipeline.open(settings, clock=clock) as pipeline:
        bus = RedisStreamsBus.from_url(
            dep.redis_url, stream=f"{dep.prefix}:events", group=f"{dep.prefix}-workers", single_class=read == "fifo"
        )
        try:
            return await one_run(pipeline, bus, ticks, "redis", read)
        finally:
            await bus.close()


async def priority_runs(admin_url: str, redis_url: str, folder: Path, ticks: int, repeats: int) -> list[Run]:
    """Every (bus, read) pair `repeats` times, interleaved so that drifts of the machine hit them alike."""
    tape = tape_ticks(ticks)
    runs: list[Run] = []
    for n in range(repeats):
        for bus_name in BUSES:
            for read in READS:
                where = folder / f"{bus_name}-{read}-{n}"
                if bus_name == "memory":
                    runs.append(await memory_run(where, tape, read))
                    continue
                async with deployment(admin_url, redis_url) as dep:
                    runs.append(await redis_run(dep, where, tape, read))
    return runs


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}..{max(values):.1f})"


def report_priorities(runs: list[Run]) -> None:
    ticks = runs[0].ticks
    repeats = sum(1 for r in runs if (r.bus, r.read) == (runs[0].bus, runs[0].read))
    print(f"(d) one critical ANOMALY_DETECTED behind {ticks} MARKET_TICK events, one worker (concurrency "
          f"{WORKER_CONCURRENCY}), {repeats} runs each: median (min..max)")  # fmt: skip
    print("    floor: the same anomaly's session alone (another symbol, nothing else running), same deployment")
    print(f"| {'bus, read':16} | {'publish -> action ms':>24} | {'target':>6} | met | {'floor: session ms':>22} "
          f"| {'ticks ahead':>22} | {'ticks/s':>24} |")  # fmt: skip
    print(f"|{'-' * 18}|{'-' * 26}|{'-' * 8}|-----|{'-' * 24}|{'-' * 24}|{'-' * 26}|")
    for bus_name in BUSES:
        for read in READS:
            chosen = [r for r in runs if (r.bus, r.read) == (bus_name, read)]
            action = [r.action_ms for r in chosen]
            met = "yes" if statistics.median(action) < TARGET_ACTION_MS else "NO"
            ahead = spread([float(r.ticks_ahead) for r in chosen])
            rate = spread([r.ticks_per_s for r in chosen])
            alone = spread([r.alone_ms for r in chosen])
            target = f"< {TARGET_ACTION_MS:g}"
            print(f"| {bus_name + ', ' + read:16} | {spread(action):>24} | {target:>6} | {met:>3} | {alone:>22} "
                  f"| {ahead:>22} | {rate:>24} |")  # fmt: skip
