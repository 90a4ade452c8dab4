"""What the operations flows share: their services, and their shape (normalize -> steps -> persist).

An operations flow handles one event type that is not a market event (a circuit breaker, a rebalancing,
later anomalies, fills, health): it records and validates the event exactly as the deliberation does (its
`normalize`: idempotent by id, conflicts kept, dead letters written), runs its own steps, and persists one
decision record per event (its `persist`), so every event, whatever its type, ends with a decision.
Nothing of the deliberation's is written twice: the two end nodes are the deliberation's own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Checkpointer

from graphs.deliberation.context import RunKnobs
from graphs.deliberation.nodes import DeliberationNodes
from graphs.deliberation.services import Services
from graphs.deliberation.state import DeliberationInput, DeliberationOutput, DeliberationState, Settlement
from graphs.wiring import Update, input_checked, routed, settled_or
from graphs.workflow.services import WorkflowServices
from state.alerts import RaiseAlert
from state.clock import Clock
from state.decisions import Outcome
from state.events import EventType
from state.orders import Fill
from state.posture import CurrentPosture
from state.store.base import DurableStore
from tools.ops.allocation import RebalanceConfig
from tools.ops.bots import BotControl
from tools.ops.breaker import BreakerConfig
from tools.ops.posture import PostureControl
from tools.ops.releases import ReleaseConfig
from tools.ops.rules import RuleControl
from tools.ops.trading import TradingControl

Graph = CompiledStateGraph[Any, Any, Any, Any]
# The findings' key of the events a flow caused (full events): the pipeline submits them after the flow's
# session, and again when its event is redelivered (their ids are fixed), so none is lost to a crash.
EMITTED = "emitted"
OpStep = Callable[[DeliberationState], Awaitable[Update]]


class PostureEvaluator(Protocol):
    """`aegis.runtime.posture_watch.PostureWatch.evaluate`: the posture evaluated now (VIX, trend, volatility)."""

    async def evaluate(self) -> CurrentPosture: ...


class HealthSignals(Protocol):
    """`aegis.runtime.monitor.RiskMonitor`'s inputs, as the flows feed them (fills, provider and feed health)."""

    async def fills(self, fills: Sequence[Fill]) -> None: ...

    async def provider_call(self, ok: bool, provider: str = "llm") -> None: ...

    async def heartbeat(self) -> None: ...


@dataclass(frozen=True, slots=True)
class OpsServices:
    """The controls and settings the operations flows act through (built by `aegis.services`)."""

    clock: Clock
    store: DurableStore
    bots: BotControl
    raise_alert: RaiseAlert
    rebalance: RebalanceConfig
    breaker: BreakerConfig
    rules: RuleControl
    trading: TradingControl
    health: HealthSignals  # the failure tiers, fed by the flows (fills booked, components' health)
    releases: ReleaseConfig  # how economic releases are answered
    posture: PostureControl | None = None  # the rules' SET_POSTURE acts through it
    evaluator: PostureEvaluator | None = None  # an economic release re-evaluates the posture through it
    workflow: WorkflowServices | None = None  # the operator workflow's tools and approvals


def build_operation_graph(
    name: str,
    event_type: EventType,
    steps: Sequence[tuple[str, OpStep]],
    services: Services,
    checkpointer: Checkpointer = None,
) -> Graph:
    """normalize -> steps (in order; any step that settles goes to persist) -> persist, for `event_type`.
    An event of another type sent to this graph (Studio, the API) is settled without acting."""
    common = DeliberationNodes(services)
    graph = StateGraph(
        DeliberationState, context_schema=RunKnobs, input_schema=DeliberationInput, output_schema=DeliberationOutput
    )
    names = [step_name for step_name, _ in steps]

    def after_normalize(state: Mapping[str, Any], runtime: Runtime[RunKnobs]) -> str:
        return "persist" if "prior" in state or "settled" in state else names[0]

    async def normalize(state: DeliberationState) -> Update:
        update = await common.normalize(state)
        parsed = update.get("parsed")
        if parsed is not None and "settled" not in update and parsed.type is not event_type:
            reason = f"the {name} flow handles {event_type} events; this is {parsed.type}: nothing done"
            update["settled"] = Settlement(Outcome.SCREENED_OUT, reason)
        return update

    graph.add_node("normalize", routed(input_checked(normalize), after_normalize), destinations=(names[0], "persist"))
    for index, (step_name, step) in enumerate(steps):
        following = names[index + 1] if index + 1 < len(names) else "persist"
        destinations = (following,) if following == "persist" else (following, "persist")
        graph.add_node(step_name, routed(step, settled_or(following)), destinations=destinations)
    graph.add_node("persist", common.persist)
    graph.add_edge(START, "normalize")
    graph.add_edge("persist", END)
    return graph.compile(checkpointer=checkpointer, name=name)
