"""The rules engine: predicates, evaluation in priority order and fail safe, the default rules, and the
rule control on both engines (added, changed as the next version, disabled, validated, audited, mirrored)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from quant.rule_predicates import PredicateError, holds
from state.clock import SimulatedClock
from state.context_loader import RULES_KEY
from state.events import EventType, parse_event
from state.hot import InMemoryHotStore
from state.rules import DEFAULT_RULES, Action, ActionKind, Condition, Rule, RuleBook, event_facts
from state.store.base import AuditEntry, StoreConflictError
from state.tiered_hot import TieredHot
from tests.state import test_store_contract as contract
from tests.state.test_store_contract import T0, Store
from tools.ops.rules import InvalidRuleError, RuleControl, UnknownRuleError

# The contract's fixtures: every test that asks for `store` runs on SQLite and on PostgreSQL.
engine = contract.engine
store = contract.store


@pytest.mark.parametrize(
    ("fact", "op", "value", "expected"),
    [(0.3, ">=", 0.3, True), (0.29, ">=", 0.3, False), (5, "<", 5.5, True), ("HIGH", "in", ("HIGH", "LOW"), True),
     ("MEDIUM", "not_in", ("HIGH",), True), ("bots", "==", "bots", True), (True, "!=", False, True)],
)  # fmt: skip
def test_predicates(fact: Any, op: str, value: Any, expected: bool) -> None:
    assert holds("x", op, value, {"x": fact}) is expected


@pytest.mark.parametrize(
    ("facts", "op", "value", "problem"),
    [({}, "<", 1, "no fact 'x'"), ({"x": "HIGH"}, ">=", 0.3, "compares numbers"), ({"x": True}, "<", 1, "numbers"),
     ({"x": float("nan")}, "<", 1, "not a finite number"), ({"x": 1}, "==", "1", "another kind"),
     ({"x": 1}, "in", 1, "needs a list"), ({"x": 1}, "~", 1, "unknown operator")],
)  # fmt: skip
def test_a_condition_that_cannot_be_judged_raises(facts: dict[str, Any], op: str, value: Any, problem: str) -> None:
    with pytest.raises(PredicateError, match=problem):
        holds("x", op, value, facts)


def _rule(rule_id: str, priority: int, *conditions: Condition, enabled: bool = True) -> Rule:
    return Rule(rule_id=rule_id, description="test", event_type=EventType.BOT_STATUS, priority=priority,
                conditions=conditions, actions=(Action(kind=ActionKind.STOP_BOT),), enabled=enabled)  # fmt: skip


def test_rules_are_judged_in_priority_order_and_a_failing_rule_does_not_act() -> None:
    rate = Condition(field="payload.error_rate", op=">=", value=0.3)
    book = RuleBook(rules=(
        _rule("b-low", 10, rate), _rule("a-high", 900, rate), _rule("a-tie", 10, rate),
        _rule("off", 999, rate, enabled=False), _rule("broken", 500, Condition(field="nope", op="==", value=1)),
    ))  # fmt: skip
    outcomes = book.evaluate(EventType.BOT_STATUS, {"payload.error_rate": 0.31})
    assert [(o.rule_id, o.status) for o in outcomes] == [
        ("off", "disabled"), ("a-high", "matched"), ("broken", "failed"), ("a-tie", "matched"), ("b-low", "matched")
    ]  # fmt: skip
    assert "no fact 'nope'" in outcomes[2].reason and outcomes[2].actions == ()
    assert [rule.rule_id for rule, _ in book.matched_actions(EventType.BOT_STATUS, {"payload.error_rate": 0.31})] == [
        "a-high", "a-tie", "b-low"
    ]  # fmt: skip
    assert book.evaluate(EventType.ANOMALY_DETECTED, {}) == []


def _event(kind: str, payload: dict[str, Any], **more: Any) -> Any:
    return parse_event({"id": "e1", "type": kind, "source": "test", "event_time": T0.isoformat(),
                        "payload": payload, **more}, now=T0 + timedelta(seconds=1))  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "payload", "extra", "rule", "matched"),
    [
        ("ANOMALY_DETECTED", {"rule": "bot.loss_streak", "severity": "HIGH"}, {}, "anomaly-high-stops-bot", True),
        ("ANOMALY_DETECTED", {"rule": "bot.loss_streak", "severity": "MEDIUM"}, {}, "anomaly-high-stops-bot", False),
        ("ANOMALY_DETECTED", {"rule": "market.price_move", "severity": "HIGH"}, {}, "anomaly-high-stops-bot", False),
        ("ANOMALY_DETECTED", {"rule": "market.price_move", "severity": "LOW"}, {}, "market-anomaly-blocks-symbol",
         True),
        ("ANOMALY_DETECTED", {"rule": "bot.slippage", "severity": "HIGH"}, {}, "market-anomaly-blocks-symbol", False),
        ("BOT_STATUS", {"bot_id": "growth", "status": "error", "error_rate": 0.3}, {}, "bot-api-errors-stop-bot", True),
        ("BOT_STATUS", {"bot_id": "growth", "status": "error", "error_rate": 0.29}, {}, "bot-api-errors-stop-bot",
         False),
        ("BOT_STATUS", {"bot_id": "growth", "status": "heartbeat"}, {}, "bot-api-errors-stop-bot", False),
        ("CIRCUIT_BREAKER", {"scope": "bots", "daily_loss_pct": 10.0}, {}, "daily-loss-stops-losing-bots", True),
        ("CIRCUIT_BREAKER", {"scope": "bots", "daily_loss_pct": 9.99}, {}, "daily-loss-stops-losing-bots", False),
        ("REBALANCING_DUE", {"portfolio_id": "bots"}, {"sharpe_improvement": 0.049}, "rebalance-below-5pct-skips",
         True),
        ("REBALANCING_DUE", {"portfolio_id": "bots"}, {"sharpe_improvement": 0.051}, "rebalance-below-5pct-skips",
         False),
    ],
)  # fmt: skip
def test_the_default_rules(kind: str, payload: dict[str, Any], extra: dict[str, Any], rule: str, matched: bool) -> None:
    event = _event(kind, payload)
    outcomes = RuleBook(rules=DEFAULT_RULES).evaluate(event.type, event_facts(event, extra))
    [outcome] = [o for o in outcomes if o.rule_id == rule]
    assert outcome.status == ("matched" if matched else "not_matched"), outcome.reason


def test_a_heartbeat_without_an_error_rate_is_not_a_failure_of_the_rule() -> None:
    event = _event("BOT_STATUS", {"bot_id": "growth", "status": "heartbeat"})
    facts = event_facts(event)
    assert "payload.error_rate" not in facts and facts["payload.bot_id"] == "growth"
    [outcome] = RuleBook(rules=DEFAULT_RULES).evaluate(EventType.BOT_STATUS, facts)
    assert outcome.status == "not_matched"


def test_a_rule_is_validated_whole() -> None:
    with pytest.raises(ValueError, match="a list"):
        Condition(field="x", op="in", value="HIGH")
    with pytest.raises(ValueError, match="needs level"):
        Action(kind=ActionKind.ALERT)
    with pytest.raises(ValueError, match="at least 1"):
        Rule(rule_id="r", description="d", event_type=EventType.NEWS, actions=())


# ---- the rule control, on both engines ---------------------------------------------------------------


@pytest.fixture
def control(store: Store) -> tuple[RuleControl, Store, InMemoryHotStore, SimulatedClock]:
    clock = SimulatedClock(T0)
    hot = InMemoryHotStore(clock)
    return RuleControl(store, TieredHot(hot, clock, mirror=store), clock), store, hot, clock


BURST = {
    "rule_id": "burst-stops-bot", "description": "a bot trading in bursts stops", "event_type": "ANOMALY_DETECTED",
    "priority": 850, "conditions": [{"field": "payload.rule", "op": "==", "value": "trade_burst"}],
    "actions": [{"kind": "stop_bot"}, {"kind": "alert", "params": {"level": "warning"}}],
}  # fmt: skip


async def test_defaults_are_written_once_and_an_operators_change_stays(control: Any) -> None:
    rules, _, hot, _ = control
    written = await rules.ensure_defaults()
    assert [r.rule_id for r in written] == [r.rule_id for r in DEFAULT_RULES]
    disabled = await rules.disable("signal-low-strength-proceeds", actor="ana", reason="review")
    assert disabled.version == 2 and not disabled.enabled
    assert await rules.ensure_defaults() == []  # records that hold rules are left as they are
    mirrored = RuleBook.model_validate(await hot.get_value(RULES_KEY))
    assert {r.rule_id: (r.version, r.enabled) for r in mirrored.rules}["signal-low-strength-proceeds"] == (2, False)
    assert [r.version for r in await rules.history("signal-low-strength-proceeds")] == [1, 2]


async def test_add_change_and_the_audit_trail(control: Any) -> None:
    rules, store, _, clock = control
    added = await rules.add(BURST, actor="ana", reason="bursts")
    assert (added.version, added.changed_by, added.changed_at) == (1, "ana", T0)
    clock.advance(timedelta(minutes=1))
    changed = await rules.change("burst-stops-bot", {"priority": 950}, actor="bob", reason="first")
    assert (changed.version, changed.priority, changed.changed_by) == (2, 950, "bob")
    assert next(r.rule_id for r in await rules.rules()) == "burst-stops-bot"  # highest priority first
    audit = [e for e in await store.audit_log() if e["detail"].get("rule_id") == "burst-stops-bot"]
    assert [(e["action"], e["actor"], e["detail"]["version"]) for e in audit] == [
        ("rule_changed", "bob", 2), ("rule_added", "ana", 1)
    ]  # fmt: skip
    old = (await rules.history("burst-stops-bot"))[0]
    assert old.priority == 850 and old.version == 1  # an old version reads back as it was


async def test_bad_rules_and_changes_write_nothing(control: Any) -> None:
    rules, store, _, _ = control
    await rules.add(BURST, actor="ana", reason="bursts")
    before = await store.audit_log()
    with pytest.raises(InvalidRuleError, match="exists already"):
        await rules.add(BURST, actor="ana", reason="again")
    with pytest.raises(InvalidRuleError, match=r"actions\.0\.kind"):
        await rules.add({**BURST, "rule_id": "other", "actions": [{"kind": "launch"}]}, actor="ana", reason="x")
    with pytest.raises(InvalidRuleError, match="cannot change rule_id"):
        await rules.change("burst-stops-bot", {"rule_id": "renamed"}, actor="ana", reason="x")
    with pytest.raises(InvalidRuleError, match=r"conditions\.0\.op"):
        await rules.change("burst-stops-bot", {"conditions": [{"field": "x", "op": "~", "value": 1}]},
                           actor="ana", reason="x")  # fmt: skip
    with pytest.raises(UnknownRuleError):
        await rules.disable("nope", actor="ana", reason="x")
    with pytest.raises(ValueError, match="an actor and a reason"):
        await rules.disable("burst-stops-bot", actor="ana", reason=" ")
    assert await store.audit_log() == before
    assert [r.version for r in await rules.rules()] == [1]


async def test_a_stale_version_is_a_conflict(control: Any) -> None:
    rules, store, _, _ = control
    added = await rules.add(BURST, actor="ana", reason="bursts")
    stale = added.model_copy(update={"priority": 1})  # version 1 again: someone wrote version 1 already
    with pytest.raises(StoreConflictError, match="changed meanwhile"):
        await store.save_rule(stale, AuditEntry("bob", "rule_changed", {}), T0)
    racing = [rules.change("burst-stops-bot", {"priority": p}, actor=f"op{p}", reason="race") for p in (1, 2)]
    done = await asyncio.gather(*racing, return_exceptions=True)
    assert sum(isinstance(d, Rule) for d in done) >= 1
    versions = [r.version for r in await rules.history("burst-stops-bot")]
    assert versions == list(range(1, len(versions) + 1))  # no version written twice, none skipped
