"""The `rules` provider: a deterministic policy per role, built on the quant report.

This is an honest baseline, not a language model. It answers the same requests as the LLM providers
(same facts, same schemas, same record), so every part of the pipeline can run offline, and an LLM
configuration can be judged against it. It ignores the rendered prompt and reads the structured facts.
Its provider name is "rules" and its model name says "baseline" wherever it is recorded.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from agents.llm.client import LLMReply, LLMRequest, ProviderRejectedError
from agents.llm.sena_grammar import sena_policy
from agents.llm.workflow_policies import lubit_policy, rune_policy
from prompts.loader import ExternalText
from state.clock import monotonic_ms
from state.decisions import Usage

Policy = Callable[[Mapping[str, Any]], dict[str, Any]]
# A policy that also reads the untrusted text quoted in the prompt (an operator's request), as data.
TextPolicy = Callable[[Mapping[str, Any], Sequence[ExternalText]], dict[str, Any]]

PROVIDER = "rules"
MODEL = "rules-baseline-v1"


def _num(report: Mapping[str, Any], key: str) -> float:
    value = report.get(key)
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else math.nan


def analyst_policy(facts: Mapping[str, Any]) -> dict[str, Any]:
    """Score trend, momentum, RSI and the triggering signal; two or more agreeing votes give a direction."""
    report = facts.get("report") or {}
    if "insufficient_history" in (report.get("flags") or []):
        return {
            "direction": "flat",
            "confidence": 0.0,
            "thesis": "not enough history for the indicators",
            "evidence": ["report.flags=insufficient_history"],
        }
    votes: list[tuple[int, str]] = []
    trend = report.get("trend")
    if trend in ("up", "down"):
        votes.append((1 if trend == "up" else -1, f"report.trend={trend}"))
    histogram = _num(report, "macd_histogram")
    if math.isfinite(histogram) and histogram != 0:
        votes.append((1 if histogram > 0 else -1, f"report.macd_histogram={histogram:.4f}"))
    rsi = _num(report, "rsi")
    if math.isfinite(rsi) and (rsi < 30 or rsi > 70):
        votes.append((1 if rsi < 30 else -1, f"report.rsi={rsi:.1f}"))
    signal = facts.get("signal") or {}
    strength = float(signal.get("strength", 0.0) or 0.0)
    if signal.get("direction") in ("long", "short"):
        votes.append((1 if signal["direction"] == "long" else -1, f"event.signal={signal.get('signal')}"))
    score = sum(v for v, _ in votes)
    evidence = [e for _, e in votes] or ["no directional evidence"]
    if abs(score) < 2:
        return {
            "direction": "flat",
            "confidence": 0.5,
            "thesis": f"mixed evidence (score {score:+d})",
            "evidence": evidence,
        }
    direction = "long" if score > 0 else "short"
    confidence = min(0.95, 0.45 + 0.1 * abs(score) + 0.1 * strength)
    thesis = f"{len(votes)} indicators, net score {score:+d}, point {direction}"
    return {
        "direction": direction,
        "confidence": round(confidence, 4),
        "thesis": thesis,
        "evidence": evidence,
    }


def validator_policy(facts: Mapping[str, Any]) -> dict[str, Any]:
    """Apply the named checks of the validator prompt; any violation is a veto."""
    report = facts.get("report") or {}
    posture = facts.get("posture") or {}
    analysis = facts.get("analysis")
    signal = facts.get("signal") or {}
    direction = (analysis or {}).get("direction") or signal.get("direction")
    violated: list[str] = []
    reasons: list[str] = []

    def check(name: str, ok: bool, why: str) -> None:
        if not ok:
            violated.append(name)
            reasons.append(why)

    flags = set(report.get("flags") or [])
    age = float(facts.get("market_age_s", 0.0) or 0.0)
    max_age = float(facts.get("max_market_age_s", math.inf) or math.inf)
    check("data_fresh", age <= max_age, f"market data is {age:.0f} s old (limit {max_age:.0f} s)")
    check("sufficient_history", "insufficient_history" not in flags, "indicators lack history")
    check("no_anomaly", not flags & {"gap_move", "high_volatility"}, f"anomaly flags {sorted(flags)}")
    mismatch = facts.get("price_mismatch_pct")
    if mismatch is not None and direction == "long":  # new entries only: a reduction is never vetoed for it
        check("prices_agree", False, f"broker and market prices differ by {float(mismatch):.2f} %")
    rsi = _num(report, "rsi")
    if math.isfinite(rsi):
        check("not_chasing", not (direction == "long" and rsi > 75), f"long into RSI {rsi:.1f} > 75")
        check("not_chasing", not (direction == "short" and rsi < 25), f"short into RSI {rsi:.1f} < 25")
    atr_pct = _num(report, "atr_pct")
    stop = float(posture.get("stop_loss_pct", math.inf) or math.inf)
    if math.isfinite(atr_pct):
        check(
            "volatility_fits_posture",
            atr_pct <= 2.5 * stop,
            f"daily range {atr_pct:.2f} % exceeds 2.5x the {stop:.2f} % stop",
        )
    if analysis is not None:
        minimum = float(facts.get("min_confidence", 0.65))
        confidence = float(analysis.get("confidence", 0.0))
        if analysis.get("direction") != "flat":
            check("confidence_threshold", confidence >= minimum, f"confidence {confidence:.2f} < {minimum:.2f}")
    if violated:
        return {"verdict": "veto", "reasons": reasons, "violated_checks": sorted(set(violated))}
    return {"verdict": "approve", "reasons": ["all checks passed"], "violated_checks": []}


def commander_policy(facts: Mapping[str, Any]) -> dict[str, Any]:
    """Enter longs at the posture's size and brackets; close a held long on a short view; never short."""
    analysis = facts.get("analysis") or {}
    posture = facts.get("posture") or {}
    signal = facts.get("signal") or {}
    held = float((facts.get("position") or {}).get("quantity", 0.0) or 0.0)
    price = float((facts.get("report") or {}).get("last_close") or 0.0)
    direction = analysis.get("direction")
    hold = {"action": "hold", "size_pct": 0.0, "order_type": "limit", "rationale": ""}
    if direction == "long" and held <= 0 and price > 0:
        strong = float(signal.get("strength", 0.0) or 0.0) >= 0.8
        order_type = "market" if strong and float(posture.get("limit_order_share_pct", 100)) < 100 else "limit"
        return {
            "action": "buy",
            "size_pct": float(posture.get("entry_size_pct", 0.0)),
            "order_type": order_type,
            "limit_price": price if order_type == "limit" else None,  # the last close, as the guard sees it
            "stop_loss_pct": float(posture.get("stop_loss_pct", 0.0)) or None,
            "take_profit_pct": float(posture.get("take_profit_pct", 0.0)) or None,
            "rationale": f"enter long at the posture size: {analysis.get('thesis', '')}"[:2000],
        }
    if direction == "short" and held > 0:
        return {
            "action": "sell",
            "size_pct": 0.0,
            "order_type": "market",
            "rationale": f"close the long: {analysis.get('thesis', '')}"[:2000],
        }
    reason = "already holding" if direction == "long" else "no long to close and shorting is disabled"
    return {**hold, "rationale": reason if direction in ("long", "short") else "no directional view"}


POLICIES: dict[str, Policy] = {
    "analyst": analyst_policy,
    "validator": validator_policy,
    "commander": commander_policy,
    "lubit": lubit_policy,
    "rune": rune_policy,
}
TEXT_POLICIES: dict[str, TextPolicy] = {"sena": sena_policy}


class RulesClient:
    """Serves every role it has a policy for; an unknown role is refused (the stage fails closed)."""

    def __init__(
        self, policies: Mapping[str, Policy] | None = None, text_policies: Mapping[str, TextPolicy] | None = None
    ) -> None:
        self._policies = dict(POLICIES if policies is None else policies)
        self._text_policies = dict(TEXT_POLICIES if text_policies is None else text_policies)

    @property
    def provider(self) -> str:
        return PROVIDER

    async def complete(self, request: LLMRequest) -> LLMReply:
        started = monotonic_ms()
        parsed = self._answer(request)
        return LLMReply(
            raw=json.dumps(parsed, sort_keys=True),
            parsed=parsed,
            provider=PROVIDER,
            model=MODEL,
            usage=Usage(),
            latency_ms=monotonic_ms() - started,
        )

    def _answer(self, request: LLMRequest) -> dict[str, Any]:
        text_policy = self._text_policies.get(request.role)
        if text_policy is not None:
            return text_policy(request.facts, request.external)
        policy = self._policies.get(request.role)
        if policy is None:
            raise ProviderRejectedError(f"the rules baseline has no policy for role {request.role!r}")
        return policy(request.facts)
