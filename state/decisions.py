"""The decision record: everything a session saw, said and did, as it is persisted and returned.

A record is written for every event that reaches the system, including rejected ones, so nothing is
lost silently. Role replies are kept as raw text and parsed JSON (the typed schemas live in `agents/`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from state.events import FieldError
from state.orders import Order
from state.staleness import StaleInput


class Outcome(StrEnum):
    REJECTED = "rejected"  # the event failed validation (dead-letter record)
    SCREENED_OUT = "screened_out"  # the pre-screen settled it without any LLM call
    HOLD = "hold"  # analyst or commander decided (or failed closed) to do nothing
    VETOED = "vetoed"  # the validator vetoed (or failed closed)
    BLOCKED = "blocked"  # the risk guard refused the commander's order
    ORDERED = "ordered"  # an order went to the broker
    EXECUTION_FAILED = "execution_failed"  # the broker refused or failed; nothing was executed
    APPLIED = "applied"  # an operations flow changed a control: an allocation applied, bots stopped
    SKIPPED = "skipped"  # an operations flow decided to change nothing (e.g. a rebalance below the 5 % rule)
    AWAITING_APPROVAL = "awaiting_approval"  # parked until a person approves it (an order, a workflow's plan)
    ANSWERED = "answered"  # an operator request answered without changing anything


# The outcomes of an attempt to trade: what execution success counts (AEGIS v3.1 section 5: > 99.5 %).
ATTEMPTED = frozenset({Outcome.ORDERED, Outcome.EXECUTION_FAILED, Outcome.BLOCKED})


def execution_success(outcomes: Iterable[str]) -> float | None:
    """ordered / (ordered + execution failed + blocked by the risk guard); None when nothing was attempted."""
    attempted = [o for o in outcomes if o in ATTEMPTED]
    return attempted.count(Outcome.ORDERED) / len(attempted) if attempted else None


class StageStatus(StrEnum):
    OK = "ok"
    SLOW = "slow"  # past the warn threshold, within the fail threshold
    FAILED = "failed"  # timed out, errored or returned invalid output: failed closed
    SKIPPED = "skipped"


class Usage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input_tokens: int = 0  # all input tokens, cached and cache writes included
    cached_input_tokens: int = 0  # read from the provider's prompt cache
    cache_write_tokens: int = 0  # written to the provider's prompt cache
    output_tokens: int = 0  # all output tokens, reasoning included
    reasoning_tokens: int = 0
    cost_usd: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            cached_input_tokens=self.cached_input_tokens + other.cached_input_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
            cost_usd=self.cost_usd + other.cost_usd,
        )


class StageRecord(BaseModel):
    """One stage of one session: a role call or a deterministic step."""

    model_config = ConfigDict(extra="forbid")

    stage: str
    status: StageStatus
    latency_ms: float
    reason: str | None = None
    provider: str | None = None
    model: str | None = None
    prompt_id: str | None = None
    prompt_hash: str | None = None
    raw_reply: str | None = None
    reasoning: str | None = None
    parsed: dict[str, Any] | None = None
    usage: Usage | None = None
    attempts: list[dict[str, Any]] = Field(default_factory=list)  # each provider call: route, outcome, latency
    repaired: bool = False  # the first reply failed validation and the repair reply was used


class GuardChangeRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str
    before: str
    after: str
    rule: str


class DecisionRecord(BaseModel):
    """The persisted outcome of one event.

    A decision is its event's step in a chain: it carries the event's chain (`correlation_id`, the event's own
    id for a root) and the event's direct cause (`causation_id`); None in records written before chains.
    """

    model_config = ConfigDict(extra="forbid")

    event_id: str
    event_type: str
    symbol: str | None = None
    bot_id: str | None = None  # the bot the event belongs to (None: the event did not parse)
    outcome: Outcome
    reason: str
    decided_at: datetime
    posture: str | None = None
    posture_reason: str | None = None  # where the posture came from (evaluation, override by whom until when)
    mode: str | None = None
    validation_mode: str | None = None
    rejection: list[FieldError] = Field(default_factory=list)
    analysis: dict[str, Any] | None = None
    verdict: dict[str, Any] | None = None
    command: dict[str, Any] | None = None
    guard_changes: list[GuardChangeRecord] = Field(default_factory=list)
    order: Order | None = None
    stages: list[StageRecord] = Field(default_factory=list)
    llm_usage: Usage = Field(default_factory=Usage)  # all role calls of the session, cost included
    failed_stages: list[str] = Field(default_factory=list)
    context_hash: str | None = None
    context_source: str | None = None  # "hot", or which keys the durable fallback served and why
    market_age_s: float | None = None  # age of the newest bar the session saw
    stale_inputs: list[StaleInput] = Field(default_factory=list)  # inputs past their maximum age (fail closed)
    quant_report: dict[str, Any] | None = None
    operation: dict[str, Any] | None = None  # an operations flow's findings and actions (rebalance, breaker)
    correlation_id: str | None = None  # the event's chain (its root event's id)
    causation_id: str | None = None  # what caused the event (None: a root)

    @property
    def chain_id(self) -> str:
        return self.correlation_id if self.correlation_id is not None else self.event_id

    @property
    def failed(self) -> bool:
        """A session failed when any of its role stages failed closed."""
        return bool(self.failed_stages)
