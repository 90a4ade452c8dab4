"""What each role is shown: the structured facts its prompt is rendered from (and the rules baseline reads).

Facts are JSON-compatible and deterministic for a given state, so a prompt's hash identifies exactly
what the model saw.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from agents.analyst import AnalystView
from agents.validator import ValidatorVerdict
from prompts.loader import ExternalText
from quant.report import QuantReport
from state.context import SessionContext
from state.events import Event, NewsEvent, SignalEvent


def base_facts(event: Event, context: SessionContext, report: QuantReport, max_market_age_s: float) -> dict[str, Any]:
    symbol = event.symbol or ""
    held = context.portfolio.quantity(symbol)
    position = next((p for p in context.portfolio.positions if p.symbol == symbol), None)
    signal = None
    if isinstance(event, SignalEvent):
        signal = {
            "signal": event.payload.signal,
            "direction": event.payload.direction,
            "strength": event.payload.strength,
        }
    facts: dict[str, Any] = {
        "event": {
            "id": event.id,
            "type": str(event.type),
            "symbol": symbol,
            "event_time": event.event_time.isoformat(),
        },
        "signal": signal,
        "report": report.as_dict(),
        "posture": {
            "name": str(context.posture),
            "reason": context.posture_reason,
            **asdict(context.posture_params),
        },
        "position": {"quantity": held, "avg_price": position.avg_price} if position else None,
        "portfolio": {
            "equity": round(context.portfolio.equity, 2),
            "cash": round(context.portfolio.cash, 2),
            "open_positions": len(context.portfolio.positions),
        },
        "market_age_s": context.market.age_s if context.market else None,
        "max_market_age_s": max_market_age_s,
    }
    mismatch = context.price_mismatches.get(symbol)
    if mismatch is not None:  # shown only when there is one (AEGIS v3.1 4.3: 0.5-2 %, the validator checks)
        facts["price_mismatch_pct"] = round(mismatch, 4)
    return facts


def validator_facts(base: dict[str, Any], analysis: AnalystView | None, min_confidence: float) -> dict[str, Any]:
    facts = {**base, "min_confidence": min_confidence}
    if analysis is not None:
        facts["analysis"] = analysis.model_dump(mode="json")
    return facts


def commander_facts(base: dict[str, Any], analysis: AnalystView, verdict: ValidatorVerdict) -> dict[str, Any]:
    return {**base, "analysis": analysis.model_dump(mode="json"), "verdict": verdict.model_dump(mode="json")}


def external_texts(event: Event) -> tuple[ExternalText, ...]:
    """The untrusted text an event brings (a news item's headline and body), quoted apart from the facts."""
    if isinstance(event, NewsEvent):
        body = f"{event.payload.headline}\n\n{event.payload.body}".strip()
        return (ExternalText(source="news", ref=event.payload.url or event.id, text=body),)
    return ()
