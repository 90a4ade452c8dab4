"""The rules engine's rules: `when` (an event type and conditions over its facts) -> `then` (actions).

This module owns the rule record, the default rules (the source documents' five, the response to a
market anomaly and to a component's reported health), the facts a rule is judged against, and the evaluation:
deterministic, in priority order (higher first, then by id), each outcome recorded with the rule's id and
version. Writing rules (added, changed, disabled; validated, versioned, audited) is `tools.ops.rules`' job;
performing an action is the flows' (`graphs.rule_actions`). No I/O here.

Decisions that must not be silently changed:
- A rule acts only when every condition holds. A rule that cannot be judged (a fact it names is missing,
  a value of the wrong kind) does not act: its outcome is `failed`, with the reason (fail safe).
- Actions come from a fixed registry (`ActionKind`); parameters are checked when a rule is written.
- Disabled rules are kept, listed and skipped.
- The anomaly rules' names are `quant.anomalies.Rule`'s (`bot.*`, `market.*`).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from quant.rule_predicates import OPERATORS, PredicateError, all_hold
from state.events import Event, EventType

RuleId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9._\-]*$")]
Scalar = float | int | str | bool


class ActionKind(StrEnum):
    PROCEED = "proceed"  # let the event's flow go on (recorded: the rule looked and let it through)
    SKIP = "skip"  # the flow changes nothing (e.g. a rebalance below the improvement rule)
    STOP_BOT = "stop_bot"  # stop the event's bot (or params.bot_id)
    STOP_LOSING_BOTS = "stop_losing_bots"  # the breaker's decision: stop the bots it names
    BLOCK_SYMBOL = "block_symbol"  # no new entries in the event's symbol for params.minutes
    SET_POSTURE = "set_posture"  # params.posture, params.minutes
    SET_TRADING_STATE = "set_trading_state"  # params.state: reducing | halted
    ALERT = "alert"  # params.level: info | warning | critical | emergency
    EMIT_EVENT = "emit_event"  # params.type: an event type, emitted with this event as its correlation


TRADING_STATES = ("reducing", "halted")  # what a rule may set; only an operator resumes
_REQUIRED_PARAMS: Mapping[ActionKind, tuple[str, ...]] = {
    ActionKind.BLOCK_SYMBOL: ("minutes",),
    ActionKind.SET_POSTURE: ("posture",),
    ActionKind.SET_TRADING_STATE: ("state",),
    ActionKind.ALERT: ("level",),
    ActionKind.EMIT_EVENT: ("type",),
}


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Condition(_Frozen):
    """`field op value`: e.g. `payload.severity in [HIGH, CRITICAL]`, `payload.error_rate >= 0.3`."""

    field: Annotated[str, Field(min_length=1, max_length=128)]
    op: Literal["<", "<=", ">", ">=", "==", "!=", "in", "not_in"]
    value: Scalar | tuple[Scalar, ...]
    # A fact the event may leave out (an optional field): "fail" judges the rule failed, "no_match" as not met.
    missing: Literal["fail", "no_match"] = "fail"

    @model_validator(mode="after")
    def _value_fits_the_operator(self) -> Condition:
        listed = isinstance(self.value, tuple)
        if (self.op in ("in", "not_in")) != listed:
            raise ValueError(f"{self.field} {self.op}: {'a list' if not listed else 'one value'} is needed")
        return self

    def as_tuple(self) -> tuple[str, str, Any]:
        return self.field, self.op, self.value


class Action(_Frozen):
    kind: ActionKind
    params: dict[str, Scalar] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _has_its_params(self) -> Action:
        missing = [p for p in _REQUIRED_PARAMS.get(self.kind, ()) if p not in self.params]
        if missing:
            raise ValueError(f"action {self.kind} needs {', '.join(missing)}")
        if self.kind is ActionKind.SET_TRADING_STATE and self.params["state"] not in TRADING_STATES:
            raise ValueError(f"action {self.kind}: state must be one of {', '.join(TRADING_STATES)}")
        return self


class Rule(_Frozen):
    """One rule. `version` counts its changes (1 when added); `priority`: higher runs first."""

    rule_id: RuleId
    version: Annotated[int, Field(ge=1)] = 1
    description: Annotated[str, Field(min_length=1, max_length=500)]
    event_type: EventType
    conditions: tuple[Condition, ...] = ()
    actions: Annotated[tuple[Action, ...], Field(min_length=1)]
    priority: Annotated[int, Field(ge=0, le=1000)] = 100
    enabled: bool = True
    changed_by: str = "system"
    changed_at: AwareDatetime | None = None

    @field_validator("conditions")
    @classmethod
    def _known_operators(cls, conditions: tuple[Condition, ...]) -> tuple[Condition, ...]:
        for condition in conditions:
            if condition.op not in OPERATORS:
                raise ValueError(f"unknown operator {condition.op}")
        return conditions


class RuleOutcome(_Frozen):
    """What one rule made of one event: `matched` (its actions are due), `not_matched`, `disabled`, or
    `failed` (it could not be judged; nothing done)."""

    rule_id: str
    version: int
    status: Literal["matched", "not_matched", "disabled", "failed"]
    actions: tuple[Action, ...] = ()
    reason: str = ""


class RuleBook(_Frozen):
    """The rules as a flow reads them (the hot mirror of the durable rules)."""

    rules: tuple[Rule, ...] = ()

    def evaluate(self, event_type: EventType, facts: Mapping[str, Any]) -> list[RuleOutcome]:
        """Every rule of `event_type`, in priority order (higher first, then by id)."""
        mine = sorted((r for r in self.rules if r.event_type is event_type), key=lambda r: (-r.priority, r.rule_id))
        return [_judge(rule, facts) for rule in mine]

    def matched_actions(self, event_type: EventType, facts: Mapping[str, Any]) -> list[tuple[Rule, Action]]:
        """The actions due, in order: each matched rule's actions, rules in priority order."""
        by_id = {r.rule_id: r for r in self.rules}
        return [
            (by_id[outcome.rule_id], action)
            for outcome in self.evaluate(event_type, facts)
            if outcome.status == "matched"
            for action in outcome.actions
        ]


def _judge(rule: Rule, facts: Mapping[str, Any]) -> RuleOutcome:
    base = {"rule_id": rule.rule_id, "version": rule.version}
    if not rule.enabled:
        return RuleOutcome(**base, status="disabled")
    if any(c.missing == "no_match" and c.field not in facts for c in rule.conditions):
        return RuleOutcome(**base, status="not_matched", reason="a fact it may do without is absent")
    try:
        matched = all_hold([c.as_tuple() for c in rule.conditions], facts)
    except PredicateError as exc:
        return RuleOutcome(**base, status="failed", reason=f"rule {rule.rule_id} v{rule.version}: {exc}")
    if not matched:
        return RuleOutcome(**base, status="not_matched")
    return RuleOutcome(**base, status="matched", actions=rule.actions)


def event_facts(event: Event, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The facts a rule is judged against: the event's type, priority, source, symbol and bot, its payload's
    scalar fields as `payload.<name>`, and what the flow measured (`extra`, e.g. `sharpe_improvement`)."""
    facts: dict[str, Any] = {
        "type": str(event.type),
        "priority": str(event.priority),
        "source": event.source,
        "bot_id": event.bot,
    }
    if event.symbol is not None:
        facts["symbol"] = event.symbol
    payload = getattr(event, "payload", None)
    if isinstance(payload, BaseModel):
        for name, value in payload.model_dump(mode="json").items():
            if isinstance(value, bool | int | float | str):
                facts[f"payload.{name}"] = value
    facts.update(extra or {})
    return facts


def _rule(rule_id: str, description: str, event_type: EventType, priority: int, conditions: list[Condition],
          actions: list[Action]) -> Rule:  # fmt: skip
    return Rule(rule_id=rule_id, description=description, event_type=event_type, priority=priority,
                conditions=tuple(conditions), actions=tuple(actions))  # fmt: skip


BOT_ANOMALIES = ("bot.trade_burst", "bot.loss_streak", "bot.slippage", "bot.api_error_rate", "bot.heartbeat_missing")
MARKET_ANOMALIES = ("market.price_move", "market.volume_spike", "market.funding_extreme", "market.book_imbalance")


def default_rules(min_sharpe_improvement: float = 0.05, daily_loss_limit_pct: float = 10.0) -> tuple[Rule, ...]:
    """The source documents' decision logic (the orchestration summary, section 3), as data; the two
    thresholds come from the settings (`rebalance.min_sharpe_improvement`, `breaker.daily_loss_limit_pct`)
    when records are created; after that the rules are the truth (`aegis rules set`)."""
    return (
        _rule("signal-low-strength-proceeds", "a signal below 0.7 strength still proceeds (aggressive); the "
              "deliberation's own 0.65 confidence gate stays", EventType.SIGNAL_GENERATED, 100,
              [Condition(field="payload.strength", op="<", value=0.7)], [Action(kind=ActionKind.PROCEED)]),
        _rule("anomaly-high-stops-bot", "a bot anomaly of severity HIGH or CRITICAL stops the bot at once",
              EventType.ANOMALY_DETECTED, 900,
              [Condition(field="payload.severity", op="in", value=("HIGH", "CRITICAL")),
               Condition(field="payload.rule", op="in", value=BOT_ANOMALIES)],
              [Action(kind=ActionKind.STOP_BOT), Action(kind=ActionKind.ALERT, params={"level": "critical"})]),
        _rule("market-anomaly-blocks-symbol", "a market anomaly blocks new entries in its symbol (30 min cooldown)",
              EventType.ANOMALY_DETECTED, 850, [Condition(field="payload.rule", op="in", value=MARKET_ANOMALIES)],
              [Action(kind=ActionKind.BLOCK_SYMBOL, params={"minutes": 30}),
               Action(kind=ActionKind.ALERT, params={"level": "warning"})]),
        _rule("bot-api-errors-stop-bot", "a bot whose API error rate reached 30 % stops at once (the measured "
              "rate: the detector grades 30 % MEDIUM)", EventType.BOT_STATUS, 900,
              [Condition(field="payload.error_rate", op=">=", value=0.3, missing="no_match")],
              [Action(kind=ActionKind.STOP_BOT), Action(kind=ActionKind.ALERT, params={"level": "critical"})]),
        _rule("daily-loss-stops-losing-bots", f"a daily loss of {daily_loss_limit_pct:g} % stops only the losing "
              "bots", EventType.CIRCUIT_BREAKER, 800,
              [Condition(field="payload.daily_loss_pct", op=">=", value=daily_loss_limit_pct)],
              [Action(kind=ActionKind.STOP_LOSING_BOTS), Action(kind=ActionKind.ALERT, params={"level": "critical"})]),
        _rule("health-broker-down-reduces", "the broker reported down: only reductions pass (REDUCING) until an "
              "operator resumes", EventType.SYSTEM_HEALTH, 800,
              [Condition(field="payload.component", op="==", value="broker"),
               Condition(field="payload.status", op="==", value="down")],
              [Action(kind=ActionKind.SET_TRADING_STATE, params={"state": "reducing"}),
               Action(kind=ActionKind.ALERT, params={"level": "critical"})]),
        _rule("health-down-alerts", "any other component reported down raises a CRITICAL alert",
              EventType.SYSTEM_HEALTH, 600,
              [Condition(field="payload.status", op="==", value="down"),
               Condition(field="payload.component", op="!=", value="broker")],
              [Action(kind=ActionKind.ALERT, params={"level": "critical"})]),
        _rule("health-degraded-warns", "a component reported degraded raises a WARNING alert",
              EventType.SYSTEM_HEALTH, 300, [Condition(field="payload.status", op="==", value="degraded")],
              [Action(kind=ActionKind.ALERT, params={"level": "warning"})]),
        _rule("rebalance-below-5pct-skips", f"a rebalance that lifts the expected Sharpe ratio by less than "
              f"{min_sharpe_improvement:.1%} of itself is skipped", EventType.REBALANCING_DUE, 500,
              [Condition(field="sharpe_improvement", op="<", value=min_sharpe_improvement)],
              [Action(kind=ActionKind.SKIP)]),
    )  # fmt: skip


DEFAULT_RULES: tuple[Rule, ...] = default_rules()
