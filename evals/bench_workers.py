"""Benchmark: the scaled-out deployment on the real servers (PostgreSQL records + checkpoints, Redis hot
context + bus), against its targets. Prints a table; asserts nothing.

    python -m evals.bench_workers [--events 600] [--samples 300] [--profile]
    python -m evals.bench_workers --scenario priorities [--ticks 10000] [--repeats 3]

(a) Event-to-analysis-start latency, in one process: `Pipeline.submit` of one event at a time, the hot
    context in Redis, a scripted zero-latency LLM client (`agents.llm.scripted.ScriptedClient`). The first
    nodes of the graph are wrapped (class attributes replaced for the run, no product code changed) to
    timestamp their start; latency = analyst node start - `submit` start (`perf_counter`, same process).
(b) Throughput of `aegis worker` processes (concurrency 4 each), 1 and then 2 of them: the events are
    published first, then the workers run `--until-idle`. Roles on the `rules` provider (deterministic,
    zero latency, no key); PostgreSQL checkpoints with the product's durability ("exit"). Wall time = from
    the first delivery (the group's pending count leaves 0) to the last ack (the stream is empty: acked
    entries are deleted), polled every 5 ms from this process. Also shown: the same from the moment every
    worker has asked for events (the later worker's start-up left out), with the backlog left then; and
    the CPU per event of the workers and of the rest of the machine (PostgreSQL, Redis, the OS), from
    /proc over the same span: on a machine that also runs the servers, it bounds what more workers add.
(c) The framework's floor: the same topology (13 nodes, analyst || validator) with no-op async nodes, the
    same Postgres checkpointer and durability, 4 runs at a time in one process, as one worker runs them.
    Its CPU per run (this process's, over the timed runs) against one worker's CPU per event (the worker
    process's, from /proc, first receive to last ack) is the ratio with a target: what the project's own
    work costs beyond LangGraph's steps and the checkpoint, whatever the machine's speed that minute.

(d) `--scenario priorities` (`evals.bench_priority`): a critical anomaly published behind a backlog of ticks,
    the time to its action and the tick throughput, with the priority read and with a single-class (FIFO)
    read, on the in-process bus and on Redis Streams.

Every event of (a) and (b) is a long signal on a real bundled AAPL bar on which the rules deliberation
orders: pre-screen passed, three roles asked. In (a) each one places an order. In (b) too, as in
`evals.bench_inflight`: the account has 1e9 cash and the postures' entry size is 1e-4 % of equity (about
$1,000 an order) with no cap on the share of limit orders, so the rules commander's buys never commit the
cash and every event takes the whole path (the risk guard, RUNE, the account lock, the order; the outcomes
are printed). With the default account the pending buys committed the cash after about 40 orders and the
later events ended at the risk guard, which made a worker's CPU per event look cheaper than a real one.
Each run gets a fresh database and its own Redis key prefix, dropped afterwards. `--profile` also runs one
worker in this process under cProfile and prints where its CPU goes, package by package, beside the floor's.

Servers: AEGIS_BENCH_POSTGRES_URL (admin URL, default postgresql://postgres@127.0.0.1:5432/postgres) and
AEGIS_BENCH_REDIS_URL (default redis://127.0.0.1:6379/0).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import redis.asyncio as aioredis

from aegis import Pipeline
from agents.llm.scripted import ScriptedClient
from evals.bench_priority import priority_runs, report_priorities
from evals.bench_profile import cpu_profiler, profile_one_worker
from evals.bench_setup import (
    MAX_MARKET_AGE_S,
    RISK_LIMITS,
    SYMBOL,
    WORKER_CONCURRENCY,
    Deployment,
    buy,
    deployment,
    ordering_day,
    publish,
    seed_market,
    signal,
)
from evals.floor import floor_graph
from graphs.deliberation.config import DeliberationConfig
from graphs.deliberation.nodes import DeliberationNodes
from graphs.deliberation.state import checkpoint_types
from quant.posture import DEFAULT_POSTURES
from state.checkpoints import START_AFRESH, close_postgres_checkpointer, open_postgres_checkpointer
from state.clock import SimulatedClock
from tools.feeds.bars import symbol_bars
from tools.feeds.bundled import load_bundled_daily

TIMED_NODES = ("normalize", "load_context", "quant_report", "pre_screen", "analyst")

# The scripted model's replies for (a): a long view, an approval, a limit buy at the bar's close.
ANALYST_LONG = {"direction": "long", "confidence": 0.8, "thesis": "trend up", "evidence": ["report.trend"]}
APPROVE = {"verdict": "approve", "reasons": ["checks pass"], "violated_checks": []}

TARGET_P99_MS = 10.0
TARGET_PER_WORKER = 100.0
TARGET_SCALING = 1.8
FLOOR_WARM_UP = 20  # runs of the floor before it is timed
TARGET_CPU_OVER_FLOOR = 1.8  # one worker's CPU per event over the floor's CPU per run


def percentile(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples), q))


# ---- (a) event to analysis start -----------------------------------------------------------------


@dataclass(frozen=True)
class Latencies:
    to_node: dict[str, list[float]]  # ms from submit start to each timed node's start
    session: list[float]  # ms of the whole submit
    outcomes: Counter[str]
    sources: Counter[str]


def timestamping(
    original: Callable[..., Awaitable[Any]], marks: dict[str, dict[str, float]], name: str, *, end: bool = False
) -> Any:
    """`original` (a node of `DeliberationNodes`) noting in `marks[event id]` when it starts (`name`), and with
    `end` when it returns (`name:end`)."""

    @functools.wraps(original)  # LangGraph reads the signature (runtime or not) through __wrapped__
    async def node(self: DeliberationNodes, state: Any, **kwargs: Any) -> Any:
        times = marks.setdefault(state["event"]["id"], {})
        times[name] = time.perf_counter()
        try:
            return await original(self, state, **kwargs)
        finally:
            if end:
                times[f"{name}:end"] = time.perf_counter()

    return node


async def analysis_start(dep: Deployment, folder: Path, end: int, samples: int, warmup: int = 20) -> Latencies:
    panel = load_bundled_daily([SYMBOL])
    bars = symbol_bars(panel, SYMBOL)
    price = bars[end].close
    script = ScriptedClient({"analyst": [ANALYST_LONG], "validator": [APPROVE], "commander": [buy(price)]})
    roles = {role: {**c.model_dump(), "provider": "scripted"} for role, c in DeliberationConfig().roles.items()}
    config = DeliberationConfig.model_validate(
        {"roles": roles, "risk_limits": RISK_LIMITS, "max_event_age_s": MAX_MARKET_AGE_S}
    )
    settings = dep.settings(folder, deliberation=config)
    marks: dict[str, dict[str, float]] = {}
    originals = {name: getattr(DeliberationNodes, name) for name in TIMED_NODES}
    for name, original in originals.items():
        setattr(DeliberationNodes, name, timestamping(original, marks, name))
    try:
        clock = SimulatedClock(bars[end].time)
        async with await Pipeline.open(settings, clock=clock, providers={"scripted": script}) as pipeline:
            await seed_market(pipeline, bars, end, float(panel.vix[end]))
            to_node: dict[str, list[float]] = {name: [] for name in TIMED_NODES}
            session: list[float] = []
            outcomes: Counter[str] = Counter()
            sources: Counter[str] = Counter()
            for n in range(warmup + samples):
                event_id = f"latency-{n}"
                started = time.perf_counter()
                decision = await pipeline.submit(signal(event_id, bars[end]))
                finished = time.perf_counter()
                if n < warmup:
                    continue
                for name, at in marks[event_id].items():
                    to_node[name].append((at - started) * 1000)
                session.append((finished - started) * 1000)
                outcomes[str(decision.outcome)] += 1
                sources[str(decision.context_source)] += 1
    finally:
        for name, original in originals.items():
            setattr(DeliberationNodes, name, original)
    return Latencies(to_node, session, outcomes, sources)


# ---- (b) worker processes ------------------------------------------------------------------------


@dataclass(frozen=True)
class Throughput:
    """`events` acknowledged in `wall_s`; for worker processes, also the part of the run when all of them
    were up (`steady_events` in `steady_s`), which leaves out the later workers' start-up (about 3 s of
    imports each, competing for the same two cores)."""

    workers: int
    events: int
    wall_s: float
    outcomes: Counter[str]
    steady_events: int = 0
    steady_s: float = 0.0
    cpu: CpuSample | None = None  # CPU seconds spent from the first receive to the last ack

    @property
    def steady_per_second(self) -> float:
        return self.steady_events / self.steady_s if self.steady_s > 0 else self.per_second

    @property
    def per_second(self) -> float:
        return self.events / self.wall_s

    @property
    def per_worker(self) -> float:
        return self.per_second / self.workers


async def outcomes_in(postgres_url: str) -> Counter[str]:
    async with await psycopg.AsyncConnection.connect(postgres_url) as db:
        rows = await (await db.execute("SELECT outcome, count(*) FROM decisions GROUP BY outcome")).fetchall()
    return Counter({str(outcome): int(count) for outcome, count in rows})


# (b)'s account: wide enough that every event orders (see the module's docstring).
ORDERING_CASH = 1e9
ORDERING_SIZE_PCT = 1e-4


def ordering_env(dep: Deployment, folder: Path) -> dict[str, str]:
    """A worker's environment for (b): the deployment's, with the wide account and the tiny entry size."""
    postures = {
        str(posture): {
            **dataclasses.asdict(params),
            "entry_size_pct": ORDERING_SIZE_PCT,
            "limit_order_share_pct": 100.0,
        }
        for posture, params in DEFAULT_POSTURES.items()
    }
    return {
        **dep.env(folder),
        "AEGIS_STARTING_CASH": repr(ORDERING_CASH),
        "AEGIS_DELIBERATION__POSTURES": json.dumps(postures),
    }


async def publish_ordering_events(dep: Deployment, folder: Path, end: int, events: int, tag: str) -> None:
    """The market up to bar `end` into Redis (mirrored to PostgreSQL) on the wide account, then `events` signals."""
    panel = load_bundled_daily([SYMBOL])
    bars = symbol_bars(panel, SYMBOL)
    settings = dep.settings(folder, starting_cash=ORDERING_CASH)
    async with await Pipeline.open(settings, clock=SimulatedClock(bars[end].time)) as pipeline:
        await seed_market(pipeline, bars, end, float(panel.vix[end]))
    await publish(settings, [signal(f"{tag}-{n}", bars[end]) for n in range(events)])


async def worker_throughput(dep: Deployment, folder: Path, end: int, events: int, workers: int) -> Throughput:
    await publish_ordering_events(dep, folder, end, events, f"w{workers}")
    stream, group = f"{dep.prefix}:events", f"{dep.prefix}-workers"
    client = aioredis.Redis.from_url(dep.redis_url)
    command = [str(Path(sys.executable).with_name("aegis")), "worker", "--until-idle"]
    command += ["--concurrency", str(WORKER_CONCURRENCY)]
    processes = [
        await asyncio.create_subprocess_exec(
            *command,
            "--name",
            f"bench-{i}",
            env=ordering_env(dep, folder),
            cwd=folder,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        for i in range(workers)
    ]
    first: float | None = None  # the first delivery: the group's pending count leaves 0
    ready: tuple[float, int] | None = None  # when every worker had asked for events, and the backlog then
    last: float | None = None  # the last ack: the stream is empty (acked entries are deleted)
    cpu_at_first = cpu_at_last = CpuSample(0.0, 0.0, 0.0)
    try:
        while last is None:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            if first is None and await _pending(client, stream, group) > 0:
                first, cpu_at_first = now, cpu_sample(processes)
            if ready is None and await _consumers(client, stream, group) == workers:
                ready = (now, int(await client.xlen(stream)))
            if first is not None and await client.xlen(stream) == 0:
                last, cpu_at_last = now, cpu_sample(processes)
            if last is None and all(p.returncode is not None for p in processes):
                raise RuntimeError("the workers ended with events left on the stream")
        for process in processes:
            await asyncio.wait_for(process.wait(), 60)
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
        await client.aclose()
    assert first is not None and last is not None
    if ready is None:  # the backlog was gone before the last worker asked for events: no span with all of them up
        ready = (last, 0)
    outcomes = await outcomes_in(dep.postgres_url)
    cpu = cpu_at_last - cpu_at_first
    return Throughput(workers, events, last - first, outcomes, steady_events=ready[1], steady_s=last - ready[0],
                      cpu=cpu)  # fmt: skip


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds so far: the whole machine busy, the worker processes, this (polling) process."""

    machine: float
    workers: float
    poller: float

    def __sub__(self, other: CpuSample) -> CpuSample:
        return CpuSample(self.machine - other.machine, self.workers - other.workers, self.poller - other.poller)


def cpu_sample(processes: list[asyncio.subprocess.Process]) -> CpuSample:
    """From /proc (Linux): what the servers cost is the machine's busy time less the workers' and ours."""
    tick = os.sysconf("SC_CLK_TCK")
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        machine = sum(map(int, fields)) - int(fields[3]) - int(fields[4])  # all but idle and iowait
        workers = 0
        for process in processes:
            stat = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            workers += int(stat[11]) + int(stat[12])  # utime, stime
    except (OSError, ValueError, IndexError):
        return CpuSample(float("nan"), float("nan"), float("nan"))
    return CpuSample(machine / tick, workers / tick, time.process_time())


async def _pending(client: aioredis.Redis, stream: str, group: str) -> int:
    try:
        return int((await client.xpending(stream, group))["pending"])
    except aioredis.ResponseError:  # no group yet: no worker has asked
        return 0


async def _consumers(client: aioredis.Redis, stream: str, group: str) -> int:
    try:
        return len(await client.xinfo_consumers(stream, group))
    except aioredis.ResponseError:
        return 0


# ---- (c) the framework's floor -------------------------------------------------------------------


async def floor_throughput(dep: Deployment, events: int) -> Throughput:
    saver = await open_postgres_checkpointer(dep.postgres_url, checkpoint_types())
    compiled = floor_graph().compile(checkpointer=saver)
    limiter = asyncio.Semaphore(WORKER_CONCURRENCY)

    async def run(n: int) -> None:
        async with limiter:
            config: Any = {"configurable": {"thread_id": f"floor-{n}", START_AFRESH: True}}  # as sessions run
            await compiled.ainvoke({"event": {"id": n}}, config, durability="exit")

    try:
        await asyncio.gather(*(run(-n - 1) for n in range(FLOOR_WARM_UP)))
        started, cpu_at_start = time.perf_counter(), own_cpu_sample()
        await asyncio.gather(*(run(n) for n in range(events)))
        wall, cpu = time.perf_counter() - started, own_cpu_sample() - cpu_at_start
    finally:
        await close_postgres_checkpointer(saver)
    return Throughput(1, events, wall, Counter(), cpu=cpu)


def own_cpu_sample() -> CpuSample:
    """The machine's busy time, and this process's CPU as the "workers'" (the floor runs its graphs here)."""
    machine = cpu_sample([]).machine
    return CpuSample(machine, time.process_time(), 0.0)


# ---- main ----------------------------------------------------------------------------------------


async def main(events: int, samples: int, profile: bool) -> None:
    admin = os.environ.get("AEGIS_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("AEGIS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    with tempfile.TemporaryDirectory(prefix="aegis-bench-workers-") as tmp:
        folder = Path(tmp)
        end = await ordering_day(folder)
        async with deployment(admin, redis_url) as dep:
            latency = await analysis_start(dep, folder / "a", end, samples)
        runs = []
        for workers in (1, 2):
            async with deployment(admin, redis_url) as dep:
                runs.append(await worker_throughput(dep, folder / f"b{workers}", end, events, workers))
        async with deployment(admin, redis_url) as dep:
            floor = await floor_throughput(dep, events)
        profiled = ""
        if profile:
            floor_profiler = cpu_profiler()
            async with deployment(admin, redis_url) as dep:
                floor_profiler.enable()
                await floor_throughput(dep, events)
                floor_profiler.disable()
            async with deployment(admin, redis_url) as dep:
                runs_profiled = events + FLOOR_WARM_UP
                profiled = await profile_one_worker(dep, folder / "p", end, events, floor_profiler, runs_profiled)
    report(latency, runs, floor, end)
    if profiled:
        print(profiled)


def report(latency: Latencies, runs: list[Throughput], floor: Throughput, end: int) -> None:
    one, two = runs
    analyst = latency.to_node["analyst"]
    print(f"bench_workers: {SYMBOL} bar #{end}, every event the full path; PostgreSQL 127.0.0.1, Redis 127.0.0.1")
    print(f"(a) {len(analyst)} events one at a time, scripted zero-latency LLM; outcomes {dict(latency.outcomes)}")
    print(f"    context sources {dict(latency.sources)}")
    print(f"    {'submit start -> node start':34}{'p50 ms':>10}{'p99 ms':>10}")
    for name in TIMED_NODES:
        samples = latency.to_node[name]
        print(f"    {name:34}{percentile(samples, 50):>10.2f}{percentile(samples, 99):>10.2f}")
    print(f"    {'whole session (submit returns)':34}{percentile(latency.session, 50):>10.2f}"
          f"{percentile(latency.session, 99):>10.2f}")  # fmt: skip
    for run in runs:
        print(
            f"(b) {run.workers} worker(s): {run.events} events in {run.wall_s:.2f} s from the first receive to the "
            f"last ack ({run.per_second:.1f}/s); with all workers up: {run.steady_events} in {run.steady_s:.2f} s "
            f"({run.steady_per_second:.1f}/s); outcomes {dict(run.outcomes)}"
        )
        if run.cpu is not None:
            per_event = 1000 / run.events
            servers = run.cpu.machine - run.cpu.workers - run.cpu.poller
            print(
                f"    CPU per event: workers {run.cpu.workers * per_event:.1f} ms, servers and OS "
                f"{servers * per_event:.1f} ms (the machine's busy time less the workers' and this poller's)"
            )
    print(f"(c) floor: {floor.events} runs of the no-op topology, Postgres checkpoints, durability exit, 4 at a time")
    print()
    p99 = percentile(analyst, 99)
    scaling = two.per_second / one.per_second
    steady_scaling = two.steady_per_second / one.steady_per_second
    per_worker, scale = f">= {TARGET_PER_WORKER:g}", f">= {TARGET_SCALING:g}x"
    one_cpu, floor_cpu = cpu_per_event(one), cpu_per_event(floor)
    cpu_ratio = one_cpu / floor_cpu
    rows = [
        ("p99 event -> analysis start", f"{p99:.2f} ms", f"< {TARGET_P99_MS:g} ms", p99 < TARGET_P99_MS),
        ("p50 event -> analysis start", f"{percentile(analyst, 50):.2f} ms", "", None),
        ("events/s, 1 worker", f"{one.per_second:.1f}", per_worker, one.per_worker >= TARGET_PER_WORKER),
        ("events/s, 2 workers", f"{two.per_second:.1f}", "", None),
        ("events/s per worker, 2 workers", f"{two.per_worker:.1f}", per_worker, two.per_worker >= TARGET_PER_WORKER),
        ("2 workers / 1 worker", f"{scaling:.2f}x", scale, scaling >= TARGET_SCALING),
        ("same, all workers up", f"{steady_scaling:.2f}x", scale, steady_scaling >= TARGET_SCALING),
        ("floor: no-op graph, runs/s", f"{floor.per_second:.1f}", "", None),
        ("floor / 1 worker", f"{floor.per_second / one.per_second:.1f}x", "", None),
        ("CPU per event, 1 worker", f"{one_cpu:.2f} ms", "", None),
        ("floor: CPU per run", f"{floor_cpu:.2f} ms", "", None),
        (
            "worker CPU / floor CPU",
            f"{cpu_ratio:.2f}x",
            f"<= {TARGET_CPU_OVER_FLOOR:g}x",
            cpu_ratio <= TARGET_CPU_OVER_FLOOR,
        ),
    ]
    print(f"| {'measure':32} | {'value':>10} | {'target':>10} | met |")
    print(f"|{'-' * 34}|{'-' * 12}|{'-' * 12}|-----|")
    for name, value, target, met in rows:
        verdict = "" if met is None else ("yes" if met else "NO")
        print(f"| {name:32} | {value:>10} | {target:>10} | {verdict:>3} |")


def cpu_per_event(run: Throughput) -> float:
    """ms of the workers' CPU (the floor's: this process's) per event of the run; NaN without /proc."""
    return 1000 * run.cpu.workers / run.events if run.cpu is not None else float("nan")


async def priorities(ticks: int, repeats: int) -> None:
    admin = os.environ.get("AEGIS_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    redis_url = os.environ.get("AEGIS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    with tempfile.TemporaryDirectory(prefix="aegis-bench-priorities-") as tmp:
        runs = await priority_runs(admin, redis_url, Path(tmp), ticks, repeats)
    report_priorities(runs)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=("workers", "priorities"), default="workers", help="(a)-(c) or (d)")
    parser.add_argument("--events", type=int, default=600, help="events per throughput run")
    parser.add_argument("--samples", type=int, default=300, help="events timed one at a time for (a)")
    parser.add_argument("--profile", action="store_true", help="also profile one in-process worker")
    parser.add_argument("--ticks", type=int, default=10_000, help="ticks ahead of the anomaly in (d)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each bus and read in (d)")
    arguments = parser.parse_args()
    if arguments.scenario == "priorities":
        asyncio.run(priorities(arguments.ticks, arguments.repeats))
    else:
        asyncio.run(main(arguments.events, arguments.samples, arguments.profile))
