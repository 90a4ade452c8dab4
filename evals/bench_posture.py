"""What the posture watch costs the market feed, beside a floor measured in the same run.

    .venv/bin/python -m evals.bench_posture --steps 3000

On the embedded stores (SQLite, in-process hot store) it times, per feed step: one durable value read (the
floor), the watch's `time_passed` (an override's end, the hot copy checked against the durable record: one
read of that record), `vix_seen` when the evaluation is not due, and one evaluation (VIX and a 12-symbol
basket's trend and volatility from the hot bars, recorded through the posture control).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from aegis import Pipeline, Settings
from aegis.runtime.posture_watch import PostureWatch
from quant.posture import Posture
from state.clock import SimulatedClock
from state.context_loader import VIX_KEY
from tools.feeds.bars import symbol_bars
from tools.feeds.bundled import load_bundled_daily

WINDOW = 120


async def _per_call_us(call: Callable[[], Awaitable[Any]], n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        await call()
    return (time.perf_counter() - started) / n * 1e6


async def measure(steps: int) -> dict[str, float]:
    """Microseconds per call of each part (see the module docstring)."""
    panel = load_bundled_daily()
    bars = {symbol: symbol_bars(panel, symbol)[-WINDOW:] for symbol in panel.symbols}
    clock = SimulatedClock(bars[panel.symbols[0]][-1].time)
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(data_dir=Path(folder), checkpoints=False)
        async with await Pipeline.open(settings, clock=clock) as pipeline:
            hot = pipeline.services.hot
            for symbol, window in bars.items():
                for bar in window:
                    await hot.push_bar(symbol, bar)
            await hot.set_value(VIX_KEY, 16.0)
            thresholds = settings.deliberation.vix_thresholds
            watch = PostureWatch(pipeline.posture, hot, clock, settings.posture, thresholds, panel.symbols)
            await watch.vix_seen()
            until = clock.now() + timedelta(days=1)
            await pipeline.posture.override(Posture.DEFENSIVE, reason="benchmark", actor="bench", until=until)
            store = pipeline.services.store
            return {
                "floor: one durable value read": await _per_call_us(
                    lambda: store.get_value("ops:posture:override"), steps
                ),
                "time_passed (each feed step)": await _per_call_us(watch.time_passed, steps),
                "vix_seen, not due": await _per_call_us(watch.vix_seen, steps),
                "an evaluation (every 30 min)": await _per_call_us(watch.evaluate, max(1, steps // 10)),
            }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--steps", type=int, default=3000, help="calls timed per part")
    args = parser.parse_args(argv)
    for name, us in asyncio.run(measure(max(1, args.steps))).items():
        print(f"{name:<34} {us:>9.1f} us")


if __name__ == "__main__":
    main()
