"""The feed benchmark runs end to end on the real servers (small numbers: it checks the command, not the
speed): every tick's bar reaches PostgreSQL and Redis, in the subject as in the floor."""

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


def test_the_benchmark_prints_the_feed_the_floor_and_their_ratio_and_loses_no_bar(
    postgres_url: str, redis_namespace: tuple[str, str]
) -> None:
    env = {**os.environ, "AEGIS_BENCH_POSTGRES_URL": postgres_admin_url(), "AEGIS_BENCH_REDIS_URL": redis_test_url()}
    done = subprocess.run(
        [sys.executable, "-m", "evals.bench_feed", "--ticks", "240", "--repeats", "1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    for name in ("aegis feed", "floor"):  # 240 ticks of 12 symbols: 20 bars each, all inside the window
        assert re.search(
            rf"^  {name}: 240 ticks in [0-9.]+ s; market_bars rows 240, hot window entries 240$", out, re.M
        )
    assert re.search(
        r"^\| aegis feed, ticks/s +\| +[0-9]+ \([0-9]+\.\.[0-9]+\) \| >= 10,000 \| +(yes|NO) \|$", out, re.M
    )
    assert re.search(r"^\| floor: same writes direct, ticks/s +\| +[0-9]+ \([0-9]+\.\.[0-9]+\) \|", out, re.M)
    assert re.search(r"^\| aegis feed / floor +\| +[0-9.]+x \|", out, re.M)
