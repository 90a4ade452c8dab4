"""Benchmark: latency of one full event through the deliberation graph with the `rules` provider.

    python -m evals.bench_graph [--events 300]

Each event is a real bar of the bundled data turned into a long signal that goes the whole way
(normalize .. persist, an order placed at the paper broker), with SQLite checkpoints and records, as
`aegis run` does. The baseline, measured in the same run, is the same topology with no-op nodes and the
same checkpointer: the framework's floor. Prints p50/p95/p99 and the ratio to the floor.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from aegis import Pipeline, Settings
from evals.floor import floor_graph
from graphs.deliberation.state import checkpoint_types
from state.checkpoints import close_checkpointer, open_sqlite_checkpointer
from state.clock import SimulatedClock
from state.context_loader import VIX_KEY
from state.events import Bar
from tools.feeds.bars import symbol_bars
from tools.feeds.bundled import load_bundled_daily


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    p50, p95, p99 = np.percentile(np.asarray(samples), [50, 95, 99])
    return float(p50), float(p95), float(p99)


def _signal(symbol: str, bar: Bar, n: int) -> dict[str, Any]:
    at = bar.time.isoformat()
    return {
        "id": f"bench-{n}", "type": "SIGNAL_GENERATED", "source": "bench", "symbols": [symbol], "event_time": at,
        "payload": {"signal": "golden_cross", "direction": "long", "strength": 0.7, "bar": bar.model_dump(mode="json")},
    }  # fmt: skip


async def _full_path_events(events: int, folder: Path) -> tuple[list[float], Counter[str]]:
    """Find a real day where the rules deliberation orders, then time `events` such events."""
    panel = load_bundled_daily(["AAPL"])
    bars = symbol_bars(panel, "AAPL")
    for end in range(120, len(bars)):
        clock = SimulatedClock(bars[end].time)
        pipeline = await Pipeline.open(Settings(data_dir=folder / f"probe-{end}"), clock=clock)
        for bar in bars[end - 119 : end + 1]:
            await pipeline.services.hot.push_bar("AAPL", bar)
        await pipeline.services.hot.set_value(VIX_KEY, float(panel.vix[end]))
        first = await pipeline.submit(_signal("AAPL", bars[end], 0))
        if first.outcome != "ordered":
            await pipeline.close()
            continue
        timings: list[float] = []
        outcomes: Counter[str] = Counter()
        for n in range(1, events + 1):
            started = time.perf_counter()
            decision = await pipeline.submit(_signal("AAPL", bars[end], n))
            timings.append((time.perf_counter() - started) * 1000)
            outcomes[str(decision.outcome)] += 1
        await pipeline.close()
        return timings, outcomes
    raise RuntimeError("no bundled AAPL day leads the rules deliberation to an order")


async def _floor(events: int, folder: Path) -> list[float]:
    graph = floor_graph()
    saver = await open_sqlite_checkpointer(folder / "floor.sqlite", checkpoint_types())
    compiled = graph.compile(checkpointer=saver)
    timings = []
    for n in range(events):
        started = time.perf_counter()
        await compiled.ainvoke({"event": {"id": n}}, {"configurable": {"thread_id": f"floor-{n}"}}, durability="exit")
        timings.append((time.perf_counter() - started) * 1000)
    await close_checkpointer(saver)
    return timings


async def main(events: int) -> None:
    with tempfile.TemporaryDirectory(prefix="aegis-bench-") as tmp:
        folder = Path(tmp)
        await _floor(20, folder / "warm")  # imports and first-run costs out of the measurement
        ours, outcomes = await _full_path_events(events, folder)
        floor = await _floor(events, folder)
    o50, o95, o99 = percentiles(ours)
    f50, f95, f99 = percentiles(floor)
    print(f"one event through the deliberation graph, rules provider, SQLite records + checkpoints; {events} events")
    print(f"outcomes: {dict(outcomes)}")
    print(f"{'':34}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'events/s':>10}")
    print(f"{'deliberation (rules)':34}{o50:>10.2f}{o95:>10.2f}{o99:>10.2f}{1000 / np.mean(ours):>10.1f}")
    print(f"{'floor: same topology, no-op nodes':34}{f50:>10.2f}{f95:>10.2f}{f99:>10.2f}{1000 / np.mean(floor):>10.1f}")
    print(f"{'ratio to the floor':34}{o50 / f50:>10.2f}{o95 / f95:>10.2f}{o99 / f99:>10.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=300)
    asyncio.run(main(parser.parse_args().events))
