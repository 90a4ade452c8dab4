"""The one place that maps an event type to its flow: a registry, not an if-ladder.

Routing reads the event's `type` field only; the flow's own `normalize` validates the whole event (and
records it as a dead letter when it is invalid), so an event is judged by the same code whatever its
flow. Anything without a known type (not an object, no type, a type no flow claims) goes to the
deliberation, whose `normalize` records it as rejected or whose pre-screen settles it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from langgraph.types import Checkpointer

from graphs.anomaly import build_anomaly_graph
from graphs.bot_status import build_bot_status_graph
from graphs.breaker import build_breaker_graph
from graphs.deliberation.graph import build_deliberation_graph
from graphs.deliberation.nodes import recorded_event
from graphs.deliberation.services import Services
from graphs.economic_release import build_economic_release_graph
from graphs.operations import Graph, OpsServices
from graphs.order_filled import build_order_filled_graph
from graphs.rebalance import build_rebalance_graph
from graphs.system_health import build_system_health_graph
from graphs.workflow.graph import build_workflow_graph
from state.events import EventType

DELIBERATION = "deliberation"
WORKFLOW = "workflow"
FlowBuilder = Callable[[Services, OpsServices, Checkpointer], Graph]

# Each flow's graph, by name (the names Studio shows, `langgraph.json`).
FLOW_BUILDERS: Mapping[str, FlowBuilder] = {
    DELIBERATION: lambda services, ops, checkpointer: build_deliberation_graph(services, checkpointer),
    "breaker": build_breaker_graph,
    "rebalance": build_rebalance_graph,
    "bot_status": build_bot_status_graph,
    "anomaly": build_anomaly_graph,
    "order_filled": build_order_filled_graph,
    "system_health": build_system_health_graph,
    "economic_release": build_economic_release_graph,
    WORKFLOW: build_workflow_graph,
}
# Event types with a flow of their own; every other type is the deliberation's.
ROUTES: Mapping[EventType, str] = {
    EventType.CIRCUIT_BREAKER: "breaker",
    EventType.REBALANCING_DUE: "rebalance",
    EventType.BOT_STATUS: "bot_status",
    EventType.ANOMALY_DETECTED: "anomaly",
    EventType.ORDER_FILLED: "order_filled",
    EventType.SYSTEM_HEALTH: "system_health",
    EventType.ECONOMIC_RELEASE: "economic_release",
    EventType.OPERATOR_REQUEST: WORKFLOW,
}


@dataclass(frozen=True, slots=True)
class Router:
    graphs: Mapping[str, Graph]

    def flow_of(self, raw: Any) -> str:
        """The name of the flow an input goes to."""
        event = recorded_event(raw)
        kind = event.get("type") if isinstance(event, dict) else None
        try:
            return ROUTES.get(EventType(kind), DELIBERATION) if isinstance(kind, str) else DELIBERATION
        except ValueError:
            return DELIBERATION

    def graph_for(self, raw: Any) -> Graph:
        return self.graphs[self.flow_of(raw)]

    @property
    def deliberation(self) -> Graph:
        return self.graphs[DELIBERATION]


class FlowGraphs(Mapping[str, Graph]):
    """Every flow's graph by name, each compiled the first time it is asked for (compiling all nine costs about
    0.1 s, and most processes run one or two flows); the same graph every time after."""

    def __init__(self, services: Services, ops: OpsServices, checkpointer: Checkpointer) -> None:
        self._services, self._ops, self._checkpointer = services, ops, checkpointer
        self._compiled: dict[str, Graph] = {}

    def __getitem__(self, name: str) -> Graph:
        graph = self._compiled.get(name)
        if graph is None:
            graph = self._compiled[name] = FLOW_BUILDERS[name](self._services, self._ops, self._checkpointer)
        return graph

    def __iter__(self) -> Iterator[str]:
        return iter(FLOW_BUILDERS)

    def __len__(self) -> int:
        return len(FLOW_BUILDERS)


def build_router(services: Services, ops: OpsServices, checkpointer: Checkpointer = None) -> Router:
    """Every flow's graph, sharing the services and the checkpointer (thread id = event id); the deliberation's
    is compiled at once (a graph that does not compile fails at start-up), the others when first used."""
    graphs = FlowGraphs(services, ops, checkpointer)
    graphs[DELIBERATION]
    return Router(graphs)
