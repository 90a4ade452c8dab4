"""How AEGIS answers an economic release (CPI, payrolls, a rate decision): which symbols it deliberates.

This module owns the configuration (`Settings.releases`) and the answer to one release: the symbols whose
deliberation it triggers, each as a NEWS event that names the release (its figures and its surprise against
the forecast) and goes through the router like any other event. The economic-release flow
(`graphs/economic_release`) applies it; the posture is re-evaluated there as well when the response asks.

Decisions that must not be silently changed:
- The symbols are the release's own (`symbols` on the event) plus the configured ones for its indicator
  (upper case; `*` for any indicator not listed), each once, in that order.
- A release whose surprise (|actual - forecast| in % of |forecast|) is below `min_surprise_pct` deliberates
  nothing; a release without a forecast (or a forecast of 0) has no surprise to measure and is deliberated.
- The NEWS events' ids derive from the release's id and the symbol (`<release id>:<symbol>`): a redelivered
  release triggers the same events, which the records answer with their first decisions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from state.events import EconomicReleaseEvent, EventType

SOURCE = "economic-release"
ANY = "*"


class ReleaseResponse(BaseModel):
    """What one indicator's release triggers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    deliberate: tuple[str, ...] = Field((), description="Symbols deliberated on the release")
    posture: bool = Field(True, description="Re-evaluate the posture on the release")


class ReleaseConfig(BaseModel):
    """Economic releases (`Settings.releases`): the response by indicator, `*` for any other."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    responses: dict[str, ReleaseResponse] = Field(
        default_factory=lambda: {ANY: ReleaseResponse()},
        description="By indicator in upper case (e.g. CPI); `*` answers any indicator not listed",
    )
    min_surprise_pct: float = Field(0.0, ge=0, description="Surprise against the forecast needed to deliberate")

    def response(self, indicator: str) -> ReleaseResponse:
        return self.responses.get(indicator.upper(), self.responses.get(ANY, ReleaseResponse(posture=False)))


def surprise_pct(actual: float, forecast: float | None) -> float | None:
    """|actual - forecast| in % of |forecast|; None without a forecast to compare with."""
    if forecast is None or forecast == 0:
        return None
    return abs(actual - forecast) / abs(forecast) * 100.0


def release_symbols(event: EconomicReleaseEvent, config: ReleaseConfig) -> tuple[list[str], str]:
    """The symbols the release deliberates, and why (or why none)."""
    payload = event.payload
    response = config.response(payload.indicator)
    surprise = surprise_pct(payload.actual, payload.forecast)
    if surprise is not None and surprise < config.min_surprise_pct:
        return [], f"a surprise of {surprise:.2f} % is below the {config.min_surprise_pct:g} % that deliberates"
    symbols = list(dict.fromkeys(s.upper() for s in (*event.symbols, *response.deliberate)))
    if not symbols:
        return [], f"no symbol is configured for {payload.indicator.upper()}"
    return symbols, f"{len(symbols)} symbol{'s' if len(symbols) > 1 else ''} deliberated"


def headline(event: EconomicReleaseEvent) -> str:
    p = event.payload
    parts = [f"{p.indicator}: {p.actual:g}"]
    if p.forecast is not None:
        surprise = surprise_pct(p.actual, p.forecast)
        parts.append(f"vs forecast {p.forecast:g}" + (f" ({surprise:.1f} % surprise)" if surprise is not None else ""))
    if p.previous is not None:
        parts.append(f"previous {p.previous:g}")
    return ", ".join(parts)


def news_events(event: EconomicReleaseEvent, symbols: Sequence[str]) -> list[dict[str, Any]]:
    """One NEWS event per symbol, in the release's chain (its correlation id, caused by it)."""
    return [
        {
            "id": f"{event.id}:{symbol}"[:128],
            "type": EventType.NEWS.value,
            "source": SOURCE,
            "priority": event.priority.value,
            "symbols": [symbol],
            "event_time": event.event_time.isoformat(),
            "correlation_id": event.chain_id,
            "causation_id": event.id,
            "payload": {"headline": headline(event), "body": f"economic release {event.id}"},
        }
        for symbol in symbols
    ]
