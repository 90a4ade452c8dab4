"""Shared fixtures: a pipeline on a temporary data folder, a simulated clock, and real bundled bars."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import hypothesis
import pytest

from aegis import Pipeline, Settings
from agents.llm.client import LLMClient
from graphs.deliberation.config import DeliberationConfig
from state.clock import SimulatedClock
from state.context_loader import VIX_KEY
from state.events import Bar
from tools.feeds.bars import symbol_bars
from tools.feeds.bundled import load_bundled_daily

pytest_plugins = ["tests.production"]  # fixtures for the PostgreSQL / Redis tests

# In CI, property tests draw the same examples on every run: a red build is always reproducible.
hypothesis.settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    hypothesis.settings.load_profile("ci")

SYMBOL = "AAPL"
SESSION_DAY = 200  # index of the bundled trading day the sessions happen on (enough history before it)


def bundled_bars(symbol: str = SYMBOL) -> list[Bar]:
    return symbol_bars(load_bundled_daily([symbol]), symbol)


def signal(event_id: str, bar: Bar, direction: str = "long", symbol: str = SYMBOL) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "SIGNAL_GENERATED",
        "source": "test",
        "symbols": [symbol],
        "event_time": bar.time.isoformat(),
        "payload": {
            "signal": "golden_cross",
            "direction": direction,
            "strength": 0.6,
            "bar": bar.model_dump(mode="json"),
        },
    }


PipelineFactory = Callable[..., Awaitable[Pipeline]]


@pytest.fixture
async def make_pipeline(tmp_path: Path) -> AsyncIterator[PipelineFactory]:
    """Build pipelines seeded with 120 real AAPL bars up to SESSION_DAY and a VIX of 14 (offensive)."""
    opened: list[Pipeline] = []
    bars = bundled_bars()

    async def factory(
        providers: Mapping[str, LLMClient] | None = None,
        *,
        provider: str = "rules",
        data_dir: Path | None = None,
        vix: float = 14.0,
        **config: Any,
    ) -> Pipeline:
        roles = {
            role: {**settings.model_dump(), "provider": provider}
            for role, settings in DeliberationConfig().roles.items()
        }
        deliberation = DeliberationConfig.model_validate({"roles": roles, **config})
        clock = SimulatedClock(bars[SESSION_DAY].time)
        pipeline = await Pipeline.open(
            Settings(data_dir=data_dir or tmp_path / "data", deliberation=deliberation),
            clock=clock,
            providers=providers,
        )
        for bar in bars[SESSION_DAY - 119 : SESSION_DAY + 1]:
            await pipeline.services.hot.push_bar(SYMBOL, bar)
        await pipeline.services.hot.set_value(VIX_KEY, vix)
        opened.append(pipeline)
        return pipeline

    yield factory
    for pipeline in opened:
        await pipeline.close()


@pytest.fixture
def session_bar() -> Bar:
    return bundled_bars()[SESSION_DAY]
