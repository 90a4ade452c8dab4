"""The in-flight benchmark runs end to end on the real servers with small numbers (it checks the command and its
invariants, never the speed): every table and SLA row is printed, every event received is decided once with an
order, and none is lost (decided + left on the bus = published). The role waits are seeded per event and role."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from evals.bench_inflight import AEGIS_SLA, ORCHESTRATOR_SLA, QUICK_LIMITS
from evals.role_latency import CAP_OF_FAIL, RoleLatency, critical_wait
from graphs.deliberation.config import DeliberationConfig
from tests.services import postgres_admin_url, redis_test_url

ROOT = Path(__file__).resolve().parents[2]
MEASURES = (
    "events/s sustained, limit 8", "sessions in flight (window mean)", "peer: zero-overhead events/s",
    "events/s / peer", "p99 own overhead", "RSS max (sampled)", "RSS max, every limit",
)  # fmt: skip
NUMBER = r"-?[0-9.]+|nan"


@pytest.mark.services
def test_the_benchmark_prints_its_tables_and_decides_every_event_it_took_once(
    postgres_url: str, redis_namespace: tuple[str, str]
) -> None:
    env = {**os.environ, "AEGIS_BENCH_POSTGRES_URL": postgres_admin_url(), "AEGIS_BENCH_REDIS_URL": redis_test_url()}
    done = subprocess.run(
        [sys.executable, "-m", "evals.bench_inflight", "--quick"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    for limit in QUICK_LIMITS:
        cells = rf"( +({NUMBER})( %| ms/8)? \|){{14}}"  # the figures, then the Redis connections
        assert re.search(rf"^\| +{limit} \| +{limit} \(min \d+\) \|{cells} +\d+ \|$", out, re.M), out
        line = re.search(
            rf"^limit {limit}: published (\d+), decided (\d+) \(\{{'ordered': (\d+)\}}\), failed 0, rejected 0; "
            rf"decisions in PostgreSQL (\d+); left on the bus (\d+), pending 0 \(cut at the end: 0\);",
            out,
            re.M,
        )
        assert line is not None, out
        published, decided, ordered, recorded, left = map(int, line.groups())
        assert decided == ordered == recorded > 0  # each decided once, each with an order
        assert published == decided + left  # none lost
        assert f"SLA at limit {limit} " in out
    for name, *_ in (*AEGIS_SLA, *ORCHESTRATOR_SLA):
        assert len(re.findall(rf"^\| (orch\. v2: )?{re.escape(name)} +\|", out, re.M)) == len(QUICK_LIMITS), name
    for measure in MEASURES:
        assert re.search(rf"^\| {re.escape(measure)} +\| +({NUMBER})( ms| MB|x)? +\|", out, re.M), measure


def test_the_role_waits_are_seeded_per_event_and_role_and_capped_below_the_fail_threshold() -> None:
    roles = DeliberationConfig().roles
    one, other = RoleLatency(roles, seed=1), RoleLatency(roles, seed=1)
    draws = [one.draw(f"e{n}", "analyst") for n in range(2000)]
    assert draws == [other.draw(f"e{n}", "analyst") for n in range(2000)]
    assert max(draws) <= CAP_OF_FAIL * roles["analyst"].fail_s
    assert sorted(draws)[1000] == pytest.approx(roles["analyst"].target_s, rel=0.05)  # the median is the target
    assert critical_wait({"analyst": 2.0, "validator": 2.5, "commander": 1.0}) == 3.5  # parallel, then commander
