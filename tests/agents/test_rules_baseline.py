"""The `rules` baseline: deterministic policies that read the facts, labelled as a baseline."""

from __future__ import annotations

from typing import Any

import pytest

from agents.analyst import AnalystView
from agents.commander import CommanderOrder
from agents.llm.client import ProviderRejectedError
from agents.llm.rules import MODEL, PROVIDER, RulesClient, analyst_policy, commander_policy, validator_policy
from agents.stage import RoleCall, StageBudget, build_request
from agents.validator import ValidatorVerdict
from prompts.loader import load_prompt

POSTURE = {"name": "offensive", "entry_size_pct": 2.5, "stop_loss_pct": 1.5, "take_profit_pct": 3.0,
           "max_open_positions": 5, "limit_order_share_pct": 70.0}  # fmt: skip
REPORT = {"trend": "up", "macd_histogram": 0.4, "rsi": 55.0, "atr_pct": 1.2, "last_close": 100.0, "flags": []}


def facts(**changes: Any) -> dict[str, Any]:
    base = {
        "report": REPORT, "posture": POSTURE, "position": None, "market_age_s": 0.0, "max_market_age_s": 30.0,
        "signal": {"signal": "golden_cross", "direction": "long", "strength": 0.5},
    }  # fmt: skip
    return {**base, **changes}


def test_agreeing_evidence_gives_a_long_view_citing_it() -> None:
    view = AnalystView.model_validate(analyst_policy(facts()))
    assert view.direction == "long"
    assert view.confidence >= 0.65
    assert "report.trend=up" in view.evidence and "event.signal=golden_cross" in view.evidence


def test_mixed_evidence_is_flat() -> None:
    report = {**REPORT, "trend": "down", "macd_histogram": 0.3}
    view = AnalystView.model_validate(analyst_policy(facts(report=report, signal=None)))
    assert view.direction == "flat"


def test_missing_history_is_flat_with_zero_confidence() -> None:
    view = AnalystView.model_validate(analyst_policy(facts(report={**REPORT, "flags": ["insufficient_history"]})))
    assert (view.direction, view.confidence) == ("flat", 0.0)


def test_validator_approves_a_clean_setup() -> None:
    assert ValidatorVerdict.model_validate(validator_policy(facts())).verdict == "approve"


@pytest.mark.parametrize(
    ("changes", "check"),
    [
        ({"market_age_s": 120.0}, "data_fresh"),
        ({"report": {**REPORT, "rsi": 81.0}}, "not_chasing"),
        ({"report": {**REPORT, "atr_pct": 5.0}}, "volatility_fits_posture"),
        ({"report": {**REPORT, "flags": ["gap_move"]}}, "no_anomaly"),
        ({"analysis": {"direction": "long", "confidence": 0.5}}, "confidence_threshold"),
    ],
)
def test_validator_vetoes_naming_the_violated_check(changes: dict[str, Any], check: str) -> None:
    verdict = ValidatorVerdict.model_validate(validator_policy(facts(**changes)))
    assert verdict.vetoed
    assert check in verdict.violated_checks


def test_commander_enters_at_the_posture_size_with_its_brackets() -> None:
    order = CommanderOrder.model_validate(commander_policy(facts(analysis={"direction": "long", "thesis": "up"})))
    assert (order.action, order.size_pct, order.stop_loss_pct, order.take_profit_pct) == ("buy", 2.5, 1.5, 3.0)
    assert order.order_type == "limit" and order.limit_price == 100.0


def test_commander_closes_a_held_long_on_a_short_view_and_never_shorts() -> None:
    held = facts(analysis={"direction": "short", "thesis": "down"}, position={"quantity": 10, "avg_price": 90})
    assert commander_policy(held)["action"] == "sell"
    flat_book = facts(analysis={"direction": "short", "thesis": "down"})
    assert commander_policy(flat_book)["action"] == "hold"


async def test_the_client_is_labelled_as_the_baseline_and_refuses_unknown_roles() -> None:
    client = RulesClient()
    call = RoleCall("analyst", AnalystView, load_prompt("analyst"), "deepseek-chat", StageBudget(1, 2, 3))
    reply = await client.complete(build_request(call, facts()))
    assert (reply.provider, reply.model) == (PROVIDER, MODEL) == ("rules", "rules-baseline-v1")
    assert reply.usage.input_tokens == 0 and reply.usage.cost_usd == 0
    other = RoleCall("gitcode", AnalystView, load_prompt("analyst"), "x", StageBudget(1, 2, 3))
    with pytest.raises(ProviderRejectedError):
        await client.complete(build_request(other, facts()))
