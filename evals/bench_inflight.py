"""Benchmark: sessions in flight at real LLM latency, one worker process, against the targets. Prints tables;
asserts nothing.

    python -m evals.bench_inflight [--limits 16,64,256,1024] [--window 20] [--seed 17] [--profile 256]
    python -m evals.bench_inflight --quick        # limits 4 and 8, 3 s windows: the command, not the speed

Each in-flight limit runs in a fresh process of its own (so its RSS is its own): one real `Worker`
(`aegis.runtime.worker`) in that process with `concurrency` = the limit, on a fresh PostgreSQL database
(records and LangGraph checkpoints, durability "exit") and its own Redis prefix (hot context and the bus),
the roles scripted to wait as real ones do (`evals.role_latency`: lognormal, median = the source's stage
target, sigma 0.25, seeded per event and role), every event the full path (three roles, the guard, RUNE, an
order). The details of one run are in `evals.inflight_run`.

- events/s: sessions ended per second over the steady window (after the first `limit` sessions have ended,
  for `--window` seconds); the peer is the rate the limit allows with no overhead at all (Little's law: the
  limit over the mean of the roles' waits on the critical path of the same sessions), and the ratio.
- own overhead of a session: its wall time (`Pipeline.submit` start to return) less max(analyst, validator)
  + commander of its own scripted waits; p50/p95/p99 over the sessions that ended in the window.
- the SLA tables of the sources: AEGIS v3.1 section 5.1 (target, warning, critical) and orchestrator v2
  (signal processing: the session's own overhead; order execution: execute start to the order accepted).
  "Event" is the session's start, when the worker gives the event a slot (with a backlog, the time an event
  waits on the bus for a slot is queueing, not processing).
- RSS (sampled every 100 ms and the peak), CPU ms per event of the worker's process and of the machine, the
  event loop's lag, the PostgreSQL pools' waits, the Redis connections: where it stops scaling and why.

Targets (one worker process on this machine): >= 50 events/s sustained with >= 200 sessions in flight (judged
at the smallest limit of at least 200), p99 own overhead < 50 ms and RSS < 500 MB at that limit.

Servers: AEGIS_BENCH_POSTGRES_URL (admin URL, default postgresql://postgres@127.0.0.1:5432/postgres) and
AEGIS_BENCH_REDIS_URL (default redis://127.0.0.1:6379/0).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from evals.bench_setup import SYMBOL, deployment, ordering_day
from evals.bench_workers import percentile
from evals.inflight_run import STARTING_CASH, LevelResult, run_level
from evals.role_latency import CAP_OF_FAIL, SIGMA, RoleLatency
from graphs.deliberation.config import DeliberationConfig

LIMITS = (16, 64, 256, 1024)
QUICK_LIMITS = (4, 8)
TARGET_PER_S = 50.0
TARGET_IN_FLIGHT = 200
TARGET_OVERHEAD_P99_MS = 50.0
TARGET_RSS_MB = 500.0

# (stage, what is measured, target, warning, critical) in ms; orchestrator v2 gives a target only.
AEGIS_SLA = (
    ("event -> analysis start", "to_analysis", 50.0, 100.0, 200.0),
    ("analysis complete *", "analysis", 2000.0, 3000.0, 5000.0),
    ("validation complete *", "validation", 1500.0, 2500.0, 4000.0),
    ("execute -> order accepted", "to_order", 500.0, 1000.0, 2000.0),
    ("full cycle", "cycle", 4000.0, 6000.0, 10000.0),
)
ORCHESTRATOR_SLA = (
    ("signal processing (own overhead)", "overhead", 100.0),
    ("order execution", "to_order", 200.0),
)


def servers() -> tuple[str, str]:
    admin = os.environ.get("AEGIS_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    return admin, os.environ.get("AEGIS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


async def one_level(limit: int, end: int, window_s: float, seed: int, profile: bool) -> LevelResult:
    """The child's part: one limit on a deployment of its own."""
    admin, redis_url = servers()
    with tempfile.TemporaryDirectory(prefix="aegis-bench-inflight-") as tmp:
        async with deployment(admin, redis_url) as dep:
            return await run_level(dep, Path(tmp), end, limit, window_s, seed, profile)


def run_levels(limits: tuple[int, ...], window_s: float, seed: int, profile_at: int | None) -> list[LevelResult]:
    with tempfile.TemporaryDirectory(prefix="aegis-bench-inflight-") as tmp:
        end = asyncio.run(ordering_day(Path(tmp)))
        results = []
        for limit in limits:
            out = Path(tmp) / f"level-{limit}.json"
            command = [sys.executable, "-m", "evals.bench_inflight", "--level", str(limit), "--end", str(end)]
            command += ["--window", str(window_s), "--seed", str(seed), "--json", str(out)]
            if profile_at == limit:
                command.append("--profile-level")
            subprocess.run(command, check=True)
            results.append(LevelResult(**json.loads(out.read_text())))
    return results


# ---- the report ------------------------------------------------------------------------------------


def _p(samples: list[float], q: float) -> float:
    return percentile(samples, q) if samples else float("nan")


def machine_state() -> str:
    load = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} at the end of the run"


def report(results: list[LevelResult], window_s: float, seed: int) -> None:
    roles = DeliberationConfig().roles
    latency = RoleLatency(roles, seed)
    print(f"bench_inflight: one worker process per limit, {SYMBOL}, every event the full path; PostgreSQL and "
          f"Redis on 127.0.0.1; {machine_state()}")  # fmt: skip
    spread = ", ".join(
        f"{role} median {latency.quantile(role, 0.5):.2f} s p95 {latency.quantile(role, 0.95):.2f} s "
        f"(cap {CAP_OF_FAIL * c.fail_s:.1f} s)"
        for role, c in roles.items()
    )
    print(f"role waits: lognormal sigma {SIGMA:g}, seed {seed}: {spread}; analyst || validator, then commander")
    print(f"account: {STARTING_CASH:.0e} cash, 1e-4 % of equity an order (no limit refuses any); steady window "
          f"{window_s:g} s after the first `limit` sessions ended")  # fmt: skip
    print()
    columns = ("limit", "in flight", "events/s", "peer/s", "ratio", "CPU ms/ev", "worker cores", "machine cores",
               "lag p99 ms", "loop busy", "RSS MB", "ovh p50", "ovh p95", "ovh p99 ms", "store pool wait",
               "ckpt pool wait", "redis conns")  # fmt: skip
    rows = []
    for r in results:
        per_event = 1000 / max(1, r.ended_in_window)
        store, ckpt = r.pools.get("store", {}), r.pools.get("checkpoints", {})
        rows.append([
            f"{r.limit}", f"{r.in_flight_mean:.0f} (min {r.in_flight_min})", f"{r.per_second:.1f}",
            f"{r.ideal_per_s:.1f}", f"{r.per_second / r.ideal_per_s:.2f}", f"{r.cpu_s * per_event:.1f}",
            f"{r.cpu_s / r.window_s:.2f}", f"{r.machine_busy_s / r.window_s:.2f}",
            f"{r.loop_lag_ms.get('p99', float('nan')):.1f}",
            f"{100 * r.loop_lag_ms.get('busy_share', float('nan')):.0f} %", f"{r.rss_max_mb:.0f}",
            f"{_p(r.overhead, 50):.1f}", f"{_p(r.overhead, 95):.1f}", f"{_p(r.overhead, 99):.1f}",
            f"{store.get('wait_ms_per_request', float('nan')):.2f} ms/{store.get('max_size', 0):.0f}",
            f"{ckpt.get('wait_ms_per_request', float('nan')):.2f} ms/{ckpt.get('max_size', 0):.0f}",
            f"{r.redis_connections}",
        ])  # fmt: skip
    widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(columns)]
    print("| " + " | ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |")
    print("worker cores: the worker process's CPU seconds per second of the window; machine cores: the whole "
          "machine's busy CPU (all processes); loop busy: the share of the window a 10 ms sleeper was late by; "
          "pool wait: the mean ms a request waited for a pooled connection / the pool's max size")  # fmt: skip
    print()
    for r in results:
        print(
            f"limit {r.limit}: published {r.published}, decided {r.decided} ({r.outcomes}), failed {r.failed}, "
            f"rejected {r.rejected}; decisions in PostgreSQL {r.decisions_in_db}; left on the bus {r.left_on_bus}, "
            f"pending {r.pending} (cut at the end: {r.cut}); ramp {r.ramp_s:.1f} s, window {r.window_s:.1f} s, "
            f"{r.ended_in_window} ended in it"
        )
        lock = r.lock
        if lock:
            print(
                f"  account lock over the window: {lock['count']:.0f} taken, wait p50 {lock['wait_ms_p50']:.1f} ms "
                f"(max {lock['wait_ms_max']:.0f}), held {lock['hold_ms_mean']:.1f} ms each, "
                f"{100 * lock['held_share']:.0f} % of the window held; pending orders in the book at the end: "
                f"{r.decided} (limit buys wait for the next bar, which never comes here)"
            )
    print()
    for r in results:
        sla_table(r)
    targets(results)
    for r in results:
        if r.profile:
            print(f"profile of limit {r.limit} over its window (cProfile, own CPU time; it slows the run):")
            print("\n".join(f"  {line}" for line in r.profile))


def sla_table(r: LevelResult) -> None:
    print(f"SLA at limit {r.limit} ({len(r.stages['cycle'])} sessions; * = set by the scripted waits)")
    print(f"| {'stage (AEGIS v3.1 5.1)':42} | {'p50 ms':>8} | {'p95 ms':>8} | {'p99 ms':>8} | target | warning "
          f"| critical | p99 is |")  # fmt: skip
    print(f"|{'-' * 44}|{'-' * 10}|{'-' * 10}|{'-' * 10}|--------|---------|----------|--------|")
    for name, key, target, warn, critical in AEGIS_SLA:
        samples = r.stages[key]
        p99 = _p(samples, 99)
        verdict = "met" if p99 < target else "critical" if p99 >= critical else "warning" if p99 >= warn else "over"
        print(f"| {name:42} | {_p(samples, 50):>8.1f} | {_p(samples, 95):>8.1f} | {p99:>8.1f} | {target:>6.0f} "
              f"| {warn:>7.0f} | {critical:>8.0f} | {verdict:>6} |")  # fmt: skip
    for name, key, target in ORCHESTRATOR_SLA:
        samples = r.overhead if key == "overhead" else r.stages[key]
        p99 = _p(samples, 99)
        print(f"| {'orch. v2: ' + name:42} | {_p(samples, 50):>8.1f} | {_p(samples, 95):>8.1f} | {p99:>8.1f} "
              f"| {target:>6.0f} | {'':>7} | {'':>8} | {'met' if p99 < target else 'missed':>6} |")  # fmt: skip
    print()


def judged(results: list[LevelResult]) -> LevelResult:
    """The smallest limit of at least TARGET_IN_FLIGHT (else the largest run)."""
    over = [r for r in results if r.limit >= TARGET_IN_FLIGHT]
    return min(over, key=lambda r: r.limit) if over else max(results, key=lambda r: r.limit)


def targets(results: list[LevelResult]) -> None:
    r = judged(results)
    p99 = _p(r.overhead, 99)
    rows: list[tuple[str, str, str, bool | None]] = [
        (f"events/s sustained, limit {r.limit}", f"{r.per_second:.1f}", f">= {TARGET_PER_S:g}",
         r.per_second >= TARGET_PER_S),
        ("sessions in flight (window mean)", f"{r.in_flight_mean:.0f}", f">= {TARGET_IN_FLIGHT}",
         r.in_flight_mean >= TARGET_IN_FLIGHT),
        ("peer: zero-overhead events/s", f"{r.ideal_per_s:.1f}", "", None),
        ("events/s / peer", f"{r.per_second / r.ideal_per_s:.2f}x", "", None),
        ("p99 own overhead", f"{p99:.1f} ms", f"< {TARGET_OVERHEAD_P99_MS:g} ms", p99 < TARGET_OVERHEAD_P99_MS),
        ("RSS max (sampled)", f"{r.rss_max_mb:.0f} MB", f"< {TARGET_RSS_MB:g} MB", r.rss_max_mb < TARGET_RSS_MB),
        ("RSS max, every limit", f"{max(x.rss_max_mb for x in results):.0f} MB", "", None),
    ]  # fmt: skip
    print(f"| {'measure':36} | {'value':>10} | {'target':>10} | met |")
    print(f"|{'-' * 38}|{'-' * 12}|{'-' * 12}|-----|")
    for name, value, target, met in rows:
        verdict = "" if met is None else ("yes" if met else "NO")
        print(f"| {name:36} | {value:>10} | {target:>10} | {verdict:>3} |")
    print()


def main(arguments: Any) -> None:
    if arguments.level is not None:
        result = asyncio.run(
            one_level(arguments.level, arguments.end, arguments.window, arguments.seed, arguments.profile_level)
        )
        Path(arguments.json).write_text(json.dumps(result.to_json()))
        return
    limits = QUICK_LIMITS if arguments.quick else tuple(int(x) for x in arguments.limits.split(","))
    window = 3.0 if arguments.quick else arguments.window
    results = run_levels(limits, window, arguments.seed, arguments.profile)
    report(results, window, arguments.seed)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limits", default=",".join(map(str, LIMITS)), help="in-flight limits, comma-separated")
    parser.add_argument("--window", type=float, default=20.0, help="seconds of the steady window per limit")
    parser.add_argument("--seed", type=int, default=17, help="the role waits' seed")
    parser.add_argument("--quick", action="store_true", help="limits 4 and 8, 3 s windows")
    parser.add_argument("--profile", type=int, default=None, help="profile the window of this limit (cProfile)")
    parser.add_argument("--level", type=int, default=None, help=argparse.SUPPRESS)  # a child: one limit
    parser.add_argument("--end", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--json", default="", help=argparse.SUPPRESS)
    parser.add_argument("--profile-level", action="store_true", help=argparse.SUPPRESS)
    main(parser.parse_args())
