"""Shared fixtures: a pipeline on a temporary data folder, a simulated clock, real bundled bars, and scripted
roles that answer each event with its own commander reply."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from hypothesis.database import DirectoryBasedExampleDatabase

from aegis import Pipeline, Settings
from agents.llm.client import LLMClient, LLMReply, LLMRequest
from agents.llm.scripted import Scripted, ScriptedClient
from graphs.deliberation.config import DeliberationConfig
from state.clock import SimulatedClock
from state.context_loader import VIX_KEY
from state.events import Bar
from tools.feeds.bars import symbol_bars
from tools.feeds.bundled import load_bundled_daily

pytest_plugins = ["tests.production", "tests.system.throwaway_postgres"]  # fixtures: services, throwaway PostgreSQL

# In CI, property tests draw new examples on every run, so that every build explores further; a red build
# stays reproducible: the failing example is printed as a `@reproduce_failure` blob and saved in the example
# database (`.hypothesis/examples`, git-ignored; keep it between CI runs, e.g. as a cache, and the next run
# replays it first). Replaces Hypothesis' own "ci" profile, which derandomizes and keeps no database.
hypothesis.settings.register_profile(
    "ci",
    hypothesis.settings.get_profile("default"),
    derandomize=False,
    database=DirectoryBasedExampleDatabase(Path(__file__).resolve().parent.parent / ".hypothesis" / "examples"),
    print_blob=True,
    deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.too_slow],
)
# Recent Hypothesis versions load their "ci" profile by themselves when they detect a CI (not only by `CI`).
_detected = getattr(hypothesis.settings, "get_current_profile_name", lambda: None)()
if os.environ.get("CI") or _detected == "ci":
    hypothesis.settings.load_profile("ci")

# The commands run in-process (CliRunner mixes their stderr into their output): their log shows warnings and
# worse, as it did before the log was configured; the log's own tests set what they need.
os.environ.setdefault("AEGIS_LOG__LEVEL", "WARNING")

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


class ScriptedPerEvent:
    """Scripted roles whose commander gives each event the reply scripted for that event's id: the sessions
    of a wave ask at once, and a session that stops before the commander takes no reply, so one shared queue
    would hand the replies to the wrong events. The analyst and the validator say the same for every event."""

    def __init__(self, analyst: Mapping[str, Any], validator: Mapping[str, Any]) -> None:
        self._roles = ScriptedClient({"analyst": [analyst], "validator": [validator]})
        self._commanders: dict[str, ScriptedClient] = {}

    @property
    def provider(self) -> str:
        return "scripted"

    def script(self, event_id: str, reply: Any) -> None:
        """The commander's reply to `event_id`: a JSON-compatible value, or raw text."""
        self._commanders[event_id] = ScriptedClient({"commander": [Scripted(reply)]})

    async def complete(self, request: LLMRequest) -> LLMReply:
        if request.role == "commander":
            return await self._commanders[request.facts["event"]["id"]].complete(request)
        return await self._roles.complete(request)


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
