"""`bench_workers --profile`: one worker in the benchmark's process, its round trips counted and its CPU
split by package (cProfile), next to the framework's floor profiled the same way.

The profiler's clock is the process's CPU time, not the wall clock: on a machine whose cores are shared
with the servers, a wall-clock profile charges a system call with the time the process waited while the
server it woke ran (a loopback `send` showed 1-2 ms a call that way), which is not the worker's CPU.
Profiling costs the most where calls are many and short (LangGraph, psycopg's generators), so the shares
are rough; compare them with the floor's, measured with the same clock and overhead."""

from __future__ import annotations

import cProfile
import pstats
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import redis.asyncio as aioredis

from aegis import Pipeline
from aegis.runtime.bus_factory import open_bus
from aegis.runtime.worker import Worker
from evals.bench_setup import (
    MAX_MARKET_AGE_S,
    RISK_LIMITS,
    SYMBOL,
    WORKER_CONCURRENCY,
    Deployment,
    publish,
    publish_full_path_events,
    signal,
)
from graphs.deliberation.config import DeliberationConfig
from tools.feeds.bars import symbol_bars
from tools.feeds.bundled import load_bundled_daily


@contextmanager
def counting_statements(counts: Counter[str]) -> Iterator[None]:
    """Count the SQL statements psycopg sends (first words of each) and the Redis commands, while inside."""
    cursor_execute: Callable[..., Awaitable[Any]] = psycopg.AsyncCursor.execute
    redis_execute: Callable[..., Awaitable[Any]] = aioredis.Redis.execute_command
    pipeline_execute: Callable[..., Awaitable[Any]] = aioredis.client.Pipeline.execute

    async def execute(cursor: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        text = " ".join(str(query).split())
        counts[f"sql: {text[:60]}" if text else "sql: <empty> (the pool's connection check)"] += 1
        return await cursor_execute(cursor, query, *args, **kwargs)

    async def command(client: Any, *args: Any, **kwargs: Any) -> Any:
        counts[f"redis: {args[0]}"] += 1
        return await redis_execute(client, *args, **kwargs)

    async def pipeline(pipe: Any, *args: Any, **kwargs: Any) -> Any:
        names = [str(c[0][0]) for c in pipe.command_stack]
        if names:  # one round trip, however many commands
            counts[f"redis: pipeline {' '.join(sorted(set(names)))}"] += 1
        return await pipeline_execute(pipe, *args, **kwargs)

    setattr(psycopg.AsyncCursor, "execute", execute)  # noqa: B010 (a class attribute swapped for the run)
    setattr(aioredis.Redis, "execute_command", command)  # noqa: B010
    setattr(aioredis.client.Pipeline, "execute", pipeline)  # noqa: B010
    try:
        yield
    finally:
        setattr(psycopg.AsyncCursor, "execute", cursor_execute)  # noqa: B010
        setattr(aioredis.Redis, "execute_command", redis_execute)  # noqa: B010
        setattr(aioredis.client.Pipeline, "execute", pipeline_execute)  # noqa: B010


def cpu_by_package(profiler: cProfile.Profile) -> Counter[str]:
    """Own CPU time (cProfile's tottime) summed by top-level package; C builtins under "builtins"."""
    shares: Counter[str] = Counter()
    stats: dict[tuple[str, int, str], tuple[Any, ...]] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    project = Path(__file__).resolve().parents[1]
    for (filename, _, _), (_, _, own, *_) in stats.items():
        parts = Path(filename).parts
        if "site-packages" in parts:
            package = parts[parts.index("site-packages") + 1]
        elif filename.startswith(str(project)):
            package = "this project: " + Path(filename).relative_to(project).parts[0]
        elif filename == "~":
            package = "builtins (C: sockets, epoll, pydantic-core, ...)"
        else:
            package = "stdlib: " + Path(filename).stem
        shares[package] += own
    return shares


def cpu_profiler() -> cProfile.Profile:
    """A profiler on the process's CPU clock (see the module's docstring)."""
    return cProfile.Profile(time.process_time)


async def profile_one_worker(
    dep: Deployment, folder: Path, end: int, events: int, floor: cProfile.Profile, floor_runs: int
) -> str:
    """One worker in this process, twice over `events` events: first plain (CPU and statements per event),
    then under cProfile (where the CPU goes), each package's share next to the floor's (`floor`, profiled
    over `floor_runs` runs)."""
    bars = symbol_bars(load_bundled_daily([SYMBOL]), SYMBOL)
    await publish_full_path_events(dep, folder, end, events, "plain")
    settings = dep.settings(
        folder,
        deliberation=DeliberationConfig.model_validate(
            {"max_market_age_s": MAX_MARKET_AGE_S, "max_event_age_s": MAX_MARKET_AGE_S, "risk_limits": RISK_LIMITS}
        ),
    )
    counts: Counter[str] = Counter()
    profiler = cpu_profiler()
    async with await Pipeline.open(settings) as pipeline:
        bus = open_bus(settings)
        worker = Worker(pipeline, bus, "profile", concurrency=WORKER_CONCURRENCY, block_ms=100)
        with counting_statements(counts):
            cpu, started = time.process_time(), time.perf_counter()
            stats = await worker.run(until_idle=True)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - started
        await publish(settings, [signal(f"profiled-{n}", bars[end]) for n in range(events)])
        profiler.enable()
        await Worker(pipeline, bus, "profile", concurrency=WORKER_CONCURRENCY, block_ms=100).run(until_idle=True)
        profiler.disable()
        await bus.close()
    done = max(1, stats.decided)
    statements = sum(n for k, n in counts.items() if k.startswith("sql")) / done
    commands = sum(n for k, n in counts.items() if k.startswith("redis")) / done
    lines = [
        f"profile: one worker in this process, {stats.decided} events in {wall:.2f} s ({done / wall:.1f}/s); "
        f"CPU of the worker {1000 * cpu / done:.1f} ms per event",
        f"  per event: {statements:.1f} SQL statements, {commands:.1f} Redis commands (a pipeline counts once)",
    ]
    lines += [f"  {n / done:6.2f}  {what}" for what, n in counts.most_common(12)]
    shares, floor_shares = cpu_by_package(profiler), cpu_by_package(floor)
    per_event = {package: 1000 * t / events for package, t in shares.items()}
    per_run = {package: 1000 * t / floor_runs for package, t in floor_shares.items()}
    lines.append(
        f"  own CPU by package, profiled (cProfile on the CPU clock; {events} more events, {floor_runs} floor runs): "
        f"worker {sum(per_event.values()):.2f} ms per event, floor {sum(per_run.values()):.2f} ms per run"
    )
    lines.append(f"  {'worker ms':>10} {'floor ms':>9} {'beyond':>7}  package")
    beyond = sorted(per_event, key=lambda p: per_run.get(p, 0.0) - per_event[p])
    for package in beyond[:14]:
        own, at_floor = per_event[package], per_run.get(package, 0.0)
        lines.append(f"  {own:10.2f} {at_floor:9.2f} {own - at_floor:7.2f}  {package}")
    return "\n".join(lines)
