"""The deliberation graph: one market event in, one guarded, persisted decision out.

    normalize -> load_context -> quant_report -> pre_screen
      -> analyst || validator          (parallel mode; sequential: analyst -> validator)
      -> veto_gate -> commander -> risk_guard -> rune -> approval_gate -> execute -> persist

Any step that settles the session early (invalid event, screened out, veto, hold, guard rejection, RUNE's block)
routes straight to `persist`, so every event ends with a decision record. Thread id = event id.
`approval_gate` parks an order the approval policy says must wait for a person: the session ends there,
"awaiting approval" (`graphs.deliberation.approval_gate`).

Where the path forks, the node's update and its route leave together as a `Command` (the node's
`destinations` draw the forks in Studio; `graphs.wiring`): seven forks a session.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import Checkpointer

from graphs.deliberation.approval_gate import ApprovalGate
from graphs.deliberation.context import RunKnobs
from graphs.deliberation.nodes import DeliberationNodes
from graphs.deliberation.services import Services
from graphs.deliberation.state import DeliberationInput, DeliberationOutput, DeliberationState
from graphs.wiring import Route, input_checked, routed, settled_or


def build_deliberation_graph(
    services: Services, checkpointer: Checkpointer = None
) -> CompiledStateGraph[Any, Any, Any, Any]:
    nodes = DeliberationNodes(services)
    graph = StateGraph(
        DeliberationState,
        context_schema=RunKnobs,
        input_schema=DeliberationInput,
        output_schema=DeliberationOutput,
    )

    def after_normalize(state: Mapping[str, Any], runtime: Runtime[RunKnobs]) -> str:
        return "persist" if "prior" in state or "settled" in state else "load_context"

    def to_roles(state: Mapping[str, Any], runtime: Runtime[RunKnobs]) -> str | list[str]:
        if "settled" in state:
            return "persist"
        mode = nodes.config(runtime).validation_mode
        return ["analyst", "validator"] if mode == "parallel" else "analyst"

    def after_analyst(state: Mapping[str, Any], runtime: Runtime[RunKnobs]) -> str:
        return "validator" if nodes.config(runtime).validation_mode == "sequential" else "veto_gate"

    forks: dict[str, tuple[Route, Sequence[str]]] = {
        "normalize": (after_normalize, ("load_context", "persist")),
        "pre_screen": (to_roles, ("analyst", "validator", "persist")),
        "analyst": (after_analyst, ("validator", "veto_gate")),
        "veto_gate": (settled_or("commander"), ("commander", "persist")),
        "commander": (settled_or("risk_guard"), ("risk_guard", "persist")),
        "risk_guard": (settled_or("rune"), ("rune", "persist")),
        "rune": (settled_or("approval_gate"), ("approval_gate", "persist")),
        "approval_gate": (settled_or("execute"), ("execute", "persist")),
    }
    gate = ApprovalGate(nodes)
    for name in ("normalize", "load_context", "quant_report", "pre_screen", "analyst", "validator", "veto_gate",
                 "commander", "risk_guard", "rune", "approval_gate", "execute", "persist"):  # fmt: skip
        node = getattr(gate if name == "approval_gate" else nodes, name)
        if name == "normalize":
            node = input_checked(node)
        if name in forks:
            route, destinations = forks[name]
            graph.add_node(name, routed(node, route), destinations=tuple(destinations))
        else:
            graph.add_node(name, node)

    graph.add_edge(START, "normalize")
    graph.add_edge("load_context", "quant_report")
    graph.add_edge("quant_report", "pre_screen")
    graph.add_edge("validator", "veto_gate")
    graph.add_edge("execute", "persist")
    graph.add_edge("persist", END)
    return graph.compile(checkpointer=checkpointer, name="deliberation")
