"""The worker benchmark runs end to end on the real servers (small numbers: it checks the command, not the
speed) and its round trips per event stay what the README says they are."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import postgres_admin_url, redis_test_url

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parents[2]
MEASURES = (
    "p99 event -> analysis start", "p50 event -> analysis start", "events/s, 1 worker", "events/s, 2 workers",
    "events/s per worker, 2 workers", "2 workers / 1 worker", "same, all workers up", "floor: no-op graph, runs/s",
    "CPU per event, 1 worker", "floor: CPU per run", "worker CPU / floor CPU",
)  # fmt: skip


def test_the_benchmark_prints_every_measure_and_the_round_trips_per_event(
    postgres_url: str, redis_namespace: tuple[str, str]
) -> None:
    env = {**os.environ, "AEGIS_BENCH_POSTGRES_URL": postgres_admin_url(), "AEGIS_BENCH_REDIS_URL": redis_test_url()}
    done = subprocess.run(
        [sys.executable, "-m", "evals.bench_workers", "--events", "40", "--samples", "20", "--profile"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    for measure in MEASURES:
        assert re.search(rf"^\| {re.escape(measure)} +\| +[0-9.]+ ?(ms|x)? +\|", out, re.M), measure
    assert "(a) 20 events one at a time, scripted zero-latency LLM; outcomes {'ordered': 20}" in out
    for workers in (1, 2):
        assert re.search(rf"^\(b\) {workers} worker\(s\): 40 events in .* outcomes \{{'ordered': 40\}}$", out, re.M)
    trips = re.search(r"per event: ([0-9.]+) SQL statements, ([0-9.]+) Redis commands", out)
    assert trips is not None, out
    sql_statements, redis_commands = float(trips[1]), float(trips[2])
    # event record, book, the guard's account read, RUNE's account read and recent orders, the account lock, the
    # execute step's account read, order, unlock, session end, checkpoint write; the hot snapshot and the ack
    # (+ receives). The lock and the unlock are saved when the lock passes to a session queued in the process
    # (`state.store.postgres_lock`), which depends on how the sessions overlap: 9 to 11. The order's and the
    # decision's links in the record chain ride in their writes' one script (`state.store.pg_writes`).
    assert 9.0 <= sql_statements <= 11.0
    assert 2.0 <= redis_commands <= 2.6
    assert re.search(r"^\| worker CPU / floor CPU +\| +[0-9.]+x +\| +<= 1\.8x +\| +(yes|NO) \|$", out, re.M), out
    assert re.search(r"^ +worker ms +floor ms +beyond  package$", out, re.M), out  # the profile, beside the floor's


def test_the_priority_scenario_prints_both_buses_both_reads_and_the_anomaly_jumps_the_ticks(
    postgres_url: str, redis_namespace: tuple[str, str]
) -> None:
    env = {**os.environ, "AEGIS_BENCH_POSTGRES_URL": postgres_admin_url(), "AEGIS_BENCH_REDIS_URL": redis_test_url()}
    done = subprocess.run(
        [sys.executable, "-m", "evals.bench_workers", "--scenario", "priorities", "--ticks", "80", "--repeats", "2"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "one critical ANOMALY_DETECTED behind 80 MARKET_TICK events, one worker (concurrency 4), 2 runs" in out
    number = r"([0-9.]+) \([0-9.]+\.\.[0-9.]+\)"
    for bus in ("memory", "redis"):
        rows = {}
        for read in ("priority", "fifo"):
            row = re.search(
                rf"^\| {bus}, {read} +\| +{number} \| +< 100 \| +(yes|NO) \| +{number} \| +{number} \| +{number} \|$",
                out,
                re.M,
            )
            assert row is not None, f"{bus}, {read}:\n{out}"
            rows[read] = row
        assert float(rows["fifo"][4]) == 80.0  # a single class: the anomaly waited behind every tick
        assert float(rows["priority"][4]) < 80.0  # its class first: handled before the backlog was done
