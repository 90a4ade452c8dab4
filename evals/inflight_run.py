"""One in-flight limit of `evals.bench_inflight`, in this process: one real `Worker` with `concurrency` = the
limit, the pipeline on PostgreSQL (records, checkpoints with durability "exit") and Redis (hot context, bus),
scripted roles that wait like real ones (`evals.role_latency`), a backlog of full-path events on the bus.

The worker runs until `limit` sessions have ended or RAMP_CAP_S passed (the ramp: the first wave starts at once),
then for `window_s` more (the steady window), then is stopped: what it received is finished (sessions still
running DRAIN_S later are cancelled, their events left pending), the rest stays on the bus. Measured:
per session (ended in the window) its wall time (`Pipeline.submit` start to return: the decision persisted)
less the roles' waits on its critical path, and the SLA stages from node marks; over the window the sessions
ended per second, the process's CPU, the machine's busy CPU (/proc/stat), the event loop's lag (a 10 ms
sleeper's overshoot), RSS (/proc/self/status, sampled every 100 ms, and its peak VmHWM), the PostgreSQL pools'
waits (psycopg_pool stats) and the Redis connections opened.
"""

from __future__ import annotations

import asyncio
import cProfile
import functools
import gc
import math
import pstats
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from aegis import Pipeline
from aegis.runtime.bus_factory import open_bus
from aegis.runtime.worker import Worker
from agents.llm.scripted import ScriptedClient
from evals.bench_profile import cpu_by_package
from evals.bench_setup import MAX_MARKET_AGE_S, RISK_LIMITS, SYMBOL, Deployment, publish, seed_market, signal
from evals.bench_workers import ANALYST_LONG, APPROVE, cpu_sample, outcomes_in, timestamping
from evals.role_latency import RoleLatency, critical_wait
from graphs.deliberation.config import DeliberationConfig
from graphs.deliberation.nodes import DeliberationNodes
from state.clock import SimulatedClock
from state.store.postgres import PostgresStore
from tools.broker.paper import PaperBroker
from tools.feeds.bars import symbol_bars
from tools.feeds.bundled import load_bundled_daily

# A wide account, so that no limit refuses an order however many are pending (limit buys fill at the next bar,
# which never comes here): each order is 1e-4 % of a 1e9 account (about $1,000, a few shares), so cash, the
# 100 % gross exposure and the 100 % concentration of `RISK_LIMITS` each leave room for a million orders.
STARTING_CASH = 1e9
SIZE_PCT = 1e-4
TIMED_NODES = ("analyst", "validator", "commander", "execute")
SAMPLE_S = 0.1
LAG_TICK_S = 0.01
RAMP_CAP_S = 30.0  # the ramp ends after this long even if fewer than `limit` sessions have ended
DRAIN_S = 20.0  # after the window: how long the stopped worker may take to finish what it holds


def commander_buy(price: float) -> dict[str, Any]:
    return {
        "action": "buy", "size_pct": SIZE_PCT, "order_type": "limit", "limit_price": price,
        "stop_loss_pct": 1.0, "take_profit_pct": 2.0, "rationale": "enter",
    }  # fmt: skip


def backlog_for(limit: int, window_s: float) -> int:
    """Events to publish so the bus never runs dry: the ramp's wave, a receive ahead, and the window at the
    rate the limit allows with 2.5 s sessions (at most 150/s, far above what one worker reaches here)."""
    return 2 * limit + math.ceil(min(limit / 2.5, 150.0) * (window_s + 15.0))


@dataclass
class Session:
    started: float
    ended: float = math.nan
    marks: dict[str, float] = field(default_factory=dict)
    accepted: float = math.nan  # the broker's submit returned: the order accepted
    decided: bool = False  # `submit` returned (a session that failed raised)


@dataclass
class LevelResult:
    limit: int
    published: int
    decided: int
    failed: int
    rejected: int
    outcomes: dict[str, int]
    decisions_in_db: int
    left_on_bus: int  # never delivered
    pending: int  # delivered, not acknowledged: 0 after a clean stop
    ramp_s: float
    window_s: float
    ended_in_window: int
    in_flight_mean: float
    in_flight_min: int
    cpu_s: float  # this process, over the window
    machine_busy_s: float  # the whole machine, over the window
    rss_max_mb: float  # sampled
    rss_peak_mb: float  # VmHWM: the peak, whenever
    loop_lag_ms: dict[str, float]
    pools: dict[str, dict[str, float]]
    redis_connections: int
    ideal_per_s: float  # the limit over the mean critical-path wait (Little's law): zero overhead
    # per session ended in the window, ms
    overhead: list[float]
    stages: dict[str, list[float]]
    cut: int  # sessions still running DRAIN_S after the stop, cancelled (their events stay pending)
    lock: dict[str, float]  # the account lock over the window: waits, holds, the share of the window held
    profile: list[str] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.ended_in_window / self.window_s if self.window_s > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _rss_mb(field_name: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field_name}:"):
            return int(line.split()[1]) / 1024
    return math.nan


@contextmanager
def instrumented(
    sessions: dict[str, Session], marks: dict[str, dict[str, float]], holds: list[tuple[float, float, float]]
) -> Iterator[None]:
    """Time each session (`Pipeline.submit`), its roles' and execute's nodes, the broker's acceptance and the
    account lock (asked, taken, released: `holds`): class attributes replaced for the run, no product code
    changed."""
    submit: Callable[..., Awaitable[Any]] = Pipeline.submit
    account_lock: Callable[[PostgresStore], AbstractAsyncContextManager[None]] = PostgresStore.account_lock

    @asynccontextmanager
    async def timed_account_lock(store: PostgresStore) -> Any:
        asked = time.perf_counter()
        async with account_lock(store):
            taken = time.perf_counter()
            try:
                yield
            finally:
                holds.append((asked, taken, time.perf_counter()))

    broker_submit: Callable[..., Awaitable[Any]] = PaperBroker.submit
    nodes = {name: getattr(DeliberationNodes, name) for name in TIMED_NODES}

    @functools.wraps(submit)
    async def timed_submit(pipeline: Pipeline, event: Any, *args: Any, **kwargs: Any) -> Any:
        session = sessions[str(event["id"])] = Session(time.perf_counter())
        try:
            decision = await submit(pipeline, event, *args, **kwargs)
            session.decided = True
            return decision
        finally:
            session.ended = time.perf_counter()

    @functools.wraps(broker_submit)
    async def timed_broker_submit(broker: PaperBroker, request: Any) -> Any:
        order = await broker_submit(broker, request)
        session = sessions.get(request.event_id)
        if session is not None:
            session.accepted = time.perf_counter()
        return order

    setattr(Pipeline, "submit", timed_submit)  # noqa: B010 (a class attribute swapped for the run)
    setattr(PaperBroker, "submit", timed_broker_submit)  # noqa: B010
    setattr(PostgresStore, "account_lock", timed_account_lock)  # noqa: B010
    for name, original in nodes.items():
        setattr(DeliberationNodes, name, timestamping(original, marks, name, end=True))
    try:
        yield
    finally:
        setattr(Pipeline, "submit", submit)  # noqa: B010
        setattr(PaperBroker, "submit", broker_submit)  # noqa: B010
        setattr(PostgresStore, "account_lock", account_lock)  # noqa: B010
        for name, original in nodes.items():
            setattr(DeliberationNodes, name, original)


def _pool_stats(pipeline: Pipeline) -> dict[str, dict[str, float]]:
    """psycopg_pool's counters of the store's pool and the checkpointer's (cumulative)."""
    pools: dict[str, Any] = {
        "store": getattr(pipeline.services.store, "_pool", None),
        "checkpoints": getattr(pipeline.graph.checkpointer, "conn", None),
    }
    return {name: dict(pool.get_stats()) for name, pool in pools.items() if hasattr(pool, "get_stats")}


def _redis_connections() -> int:
    """Connections open in this process's Redis clients (the hot store's and the bus's)."""
    pools = [o for o in gc.get_objects() if isinstance(o, aioredis.ConnectionPool)]
    return sum(count for pool in pools for count, _ in pool.get_connection_count())


async def run_level(
    dep: Deployment, folder: Path, end: int, limit: int, window_s: float, seed: int, profile: bool = False
) -> LevelResult:
    panel = load_bundled_daily([SYMBOL])
    bars = symbol_bars(panel, SYMBOL)
    base = DeliberationConfig()
    latency = RoleLatency(base.roles, seed)
    script = ScriptedClient(
        {"analyst": [ANALYST_LONG], "validator": [APPROVE], "commander": [commander_buy(bars[end].close)]},
        latency=latency,
        keep_requests=False,
    )
    roles = {role: {**c.model_dump(), "provider": "scripted"} for role, c in base.roles.items()}
    config = DeliberationConfig.model_validate(
        {"roles": roles, "risk_limits": RISK_LIMITS, "max_event_age_s": MAX_MARKET_AGE_S,
         "max_market_age_s": MAX_MARKET_AGE_S}
    )  # fmt: skip
    settings = dep.settings(folder, deliberation=config, starting_cash=STARTING_CASH)
    async with await Pipeline.open(settings, clock=SimulatedClock(bars[end].time)) as seeding:
        await seed_market(seeding, bars, end, float(panel.vix[end]))
    published = backlog_for(limit, window_s)
    await publish(settings, [signal(f"e{n}", bars[end]) for n in range(published)])

    sessions: dict[str, Session] = {}
    marks: dict[str, dict[str, float]] = {}
    samples: list[tuple[float, int, float]] = []  # time, sessions in flight, RSS MB
    lags: list[float] = []
    holds: list[tuple[float, float, float]] = []
    profiler = cProfile.Profile(time.process_time) if profile else None  # CPU time: the machine is shared
    # The nodes are timed before the pipeline is opened: the graph binds them when it is built.
    with instrumented(sessions, marks, holds):
        async with await Pipeline.open(settings, providers={"scripted": script}) as pipeline:
            bus = open_bus(settings)
            worker = Worker(pipeline, bus, "inflight", concurrency=limit, block_ms=100)
            running = asyncio.create_task(worker.run())
            sampling = asyncio.create_task(_sample(pipeline, samples))
            lagging = asyncio.create_task(_lag(lags))
            started = time.perf_counter()
            while sum(1 for s in sessions.values() if not math.isnan(s.ended)) < limit:
                if time.perf_counter() - started > RAMP_CAP_S:
                    break
                if running.done():
                    await running  # raises what ended it
                    raise RuntimeError("the worker stopped before the ramp ended")
                await asyncio.sleep(SAMPLE_S)
            ramp_end = time.perf_counter()
            lag_from, pools_before, cpu_before = len(lags), _pool_stats(pipeline), cpu_sample([])
            if profiler is not None:
                profiler.enable()
            await asyncio.sleep(window_s)
            if profiler is not None:
                profiler.disable()
            stop = time.perf_counter()
            cpu = cpu_sample([]) - cpu_before
            pools_after, window_lags = _pool_stats(pipeline), lags[lag_from:]
            worker.stop()
            cut = await _drain(running)
            stats = worker.stats
            sampling.cancel()
            lagging.cancel()
            redis_connections = _redis_connections()
            left, pending = await bus.backlog_count(), await bus.pending_count()
            await bus.close()
    outcomes = await outcomes_in(dep.postgres_url)
    in_window = [s for s in samples if ramp_end <= s[0] <= stop]
    ended = {event: s for event, s in sessions.items() if ramp_end <= s.ended <= stop and s.decided}
    overhead, stages = _per_session(ended, marks, latency.waits)
    mean_wait = sum(critical_wait(latency.waits[e]) for e in ended) / max(1, len(ended))
    return LevelResult(
        limit=limit, published=published, decided=stats.decided, failed=stats.failed, rejected=stats.rejected,
        outcomes=dict(stats.outcomes), decisions_in_db=sum(outcomes.values()), left_on_bus=left, pending=pending,
        ramp_s=ramp_end - started, window_s=stop - ramp_end, ended_in_window=len(ended),
        in_flight_mean=sum(s[1] for s in in_window) / max(1, len(in_window)),
        in_flight_min=min((s[1] for s in in_window), default=0),
        cpu_s=cpu.poller, machine_busy_s=cpu.machine,
        rss_max_mb=max((s[2] for s in samples), default=math.nan), rss_peak_mb=_rss_mb("VmHWM"),
        loop_lag_ms=_lag_summary(window_lags), pools=_pool_delta(pools_before, pools_after),
        redis_connections=redis_connections, ideal_per_s=limit / mean_wait if mean_wait > 0 else math.nan,
        overhead=overhead, stages=stages, cut=cut, lock=_lock_summary(holds, ramp_end, stop),
        profile=_profile_lines(profiler) if profiler is not None else [],
    )  # fmt: skip


def _per_session(
    ended: dict[str, Session], marks: dict[str, dict[str, float]], waits: dict[str, dict[str, float]]
) -> tuple[list[float], dict[str, list[float]]]:
    """Each session's own overhead and its SLA stages, in ms."""
    overhead: list[float] = []
    stages: dict[str, list[float]] = {k: [] for k in ("to_analysis", "analysis", "validation", "to_order", "cycle")}
    for event, session in ended.items():
        mark = marks.get(event, {})
        wall = session.ended - session.started
        overhead.append(1000 * (wall - critical_wait(waits.get(event, {}))))
        stages["cycle"].append(1000 * wall)
        if "analyst" in mark:
            stages["to_analysis"].append(1000 * (mark["analyst"] - session.started))
            stages["analysis"].append(1000 * (mark["analyst:end"] - mark["analyst"]))
        if "validator" in mark:
            stages["validation"].append(1000 * (mark["validator:end"] - mark["validator"]))
        if "execute" in mark and not math.isnan(session.accepted):
            stages["to_order"].append(1000 * (session.accepted - mark["execute"]))
    return overhead, stages


async def _drain(running: asyncio.Task[Any]) -> int:
    """Let the stopped worker finish what it holds, up to DRAIN_S; then cancel the sessions left (a large limit
    holds up to twice its sessions, which would take minutes). Returns how many were cancelled."""
    try:
        await asyncio.wait_for(asyncio.shield(running), DRAIN_S)
        return 0
    except TimeoutError:
        left = [t for t in asyncio.all_tasks() if getattr(t.get_coro(), "__qualname__", "") == "Worker.handle"]
        for task in left:
            task.cancel()
        await asyncio.gather(running, return_exceptions=True)
        return len(left)


def _lock_summary(holds: list[tuple[float, float, float]], start: float, stop: float) -> dict[str, float]:
    inside = [(asked, taken, released) for asked, taken, released in holds if start <= released <= stop]
    if not inside:
        return {}
    waits = sorted(1000 * (taken - asked) for asked, taken, _ in inside)
    held = [1000 * (released - taken) for _, taken, released in inside]
    return {
        "count": len(inside),
        "wait_ms_p50": waits[len(waits) // 2],
        "wait_ms_max": waits[-1],
        "hold_ms_mean": sum(held) / len(held),
        "held_share": sum(held) / (1000 * (stop - start)),
    }


async def _sample(pipeline: Pipeline, samples: list[tuple[float, int, float]]) -> None:
    while True:
        samples.append((time.perf_counter(), pipeline.sessions_in_flight, _rss_mb()))
        await asyncio.sleep(SAMPLE_S)


async def _lag(lags: list[float]) -> None:
    """How late a 10 ms sleep wakes: the time the loop was busy with something else."""
    while True:
        before = time.perf_counter()
        await asyncio.sleep(LAG_TICK_S)
        lags.append(1000 * (time.perf_counter() - before - LAG_TICK_S))


def _lag_summary(lags: list[float]) -> dict[str, float]:
    if not lags:
        return {}
    ordered = sorted(lags)
    return {
        "p50": ordered[len(ordered) // 2],
        "p99": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        "max": ordered[-1],
        "busy_share": sum(lags) / (len(lags) * LAG_TICK_S * 1000 + sum(lags)),
    }


def _pool_delta(before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Over the window: requests, how many queued for a connection, the mean and total wait, the pool's size."""
    out: dict[str, dict[str, float]] = {}
    for name, stats in after.items():
        old = before.get(name, {})

        def delta(key: str, stats: dict[str, float] = stats, old: dict[str, float] = old) -> float:
            return float(stats.get(key, 0)) - float(old.get(key, 0))

        requests = delta("requests_num")
        out[name] = {
            "requests": requests,
            "queued": delta("requests_queued"),
            "wait_ms": delta("requests_wait_ms"),
            "wait_ms_per_request": delta("requests_wait_ms") / requests if requests else 0.0,
            "errors": delta("requests_errors"),
            "max_size": float(stats.get("pool_max", 0)),
            "size": float(stats.get("pool_size", 0)),
        }
    return out


def _profile_lines(profiler: cProfile.Profile, top: int = 15) -> list[str]:
    shares = cpu_by_package(profiler)
    total = sum(shares.values()) or 1.0
    lines = [f"{100 * t / total:5.1f}%  {package}" for package, t in shares.most_common(10)]
    stats: dict[tuple[str, int, str], tuple[Any, ...]] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    rows = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
    lines.append("top functions by own time:")
    for (filename, line, name), (_, calls, own, _, _) in rows:
        where = "/".join(Path(filename).parts[-2:])
        lines.append(f"{100 * own / total:5.1f}%  {calls:>8} calls  {where}:{line} {name}")
    return lines
