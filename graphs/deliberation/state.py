"""The deliberation graph's state: its input (one raw event), what the nodes add, and its output.

Nodes return partial updates; only `stages` accumulates (from parallel branches). `settled` is set by
the node that ends the session early (rejected, screened out, vetoed, hold, blocked) and routes it to
`persist`.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

from agents.analyst import AnalystView
from agents.commander import CommanderOrder
from agents.validator import ValidatorVerdict
from quant.report import QuantReport
from quant.risk_guard import GuardDecision
from state.context import SessionContext
from state.decisions import DecisionRecord, Outcome, StageRecord
from state.events import Event, FieldError
from state.orders import Order


@dataclass(frozen=True, slots=True)
class Settlement:
    outcome: Outcome
    reason: str


class DeliberationInput(TypedDict):
    event: dict[str, Any]


class DeliberationOutput(TypedDict):
    decision: DecisionRecord


class DeliberationState(TypedDict, total=False):
    event: dict[str, Any]  # the raw event as received
    parsed: Event
    rejection: list[FieldError]
    prior: DecisionRecord  # the decision already recorded for this event id (a redelivery)
    context: SessionContext
    report: QuantReport
    analysis: AnalystView
    verdict: ValidatorVerdict
    command: CommanderOrder
    guard: GuardDecision
    order: Order
    failed_stages: Annotated[list[str], operator.add]
    stages: Annotated[list[StageRecord], operator.add]
    settled: Settlement
    decision: DecisionRecord


def checkpoint_types() -> list[type]:
    """Every project class that can appear in this graph's state: the checkpointer's allowlist."""
    import inspect
    import sys

    modules = (
        "state.events", "state.context", "state.decisions", "state.orders", "quant.posture", "quant.report",
        "quant.risk_guard", "agents.analyst", "agents.validator", "agents.commander", __name__,
    )  # fmt: skip
    found: list[type] = []
    for name in modules:
        module = sys.modules[name]
        found.extend(c for _, c in inspect.getmembers(module, inspect.isclass) if c.__module__ == name)
    return found
