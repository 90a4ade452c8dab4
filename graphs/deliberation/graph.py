"""The deliberation graph: one market event in, one guarded, persisted decision out.

    normalize -> load_context -> quant_report -> pre_screen
      -> analyst || validator          (parallel mode; sequential: analyst -> validator)
      -> veto_gate -> commander -> risk_guard -> execute -> persist

Any step that settles the session early (invalid event, screened out, veto, hold, guard rejection)
routes straight to `persist`, so every event ends with a decision record. Thread id = event id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Checkpointer

from graphs.deliberation.context import RunKnobs
from graphs.deliberation.nodes import DeliberationNodes
from graphs.deliberation.services import Services
from graphs.deliberation.state import DeliberationInput, DeliberationOutput, DeliberationState

Route = Callable[[DeliberationState], str]


def _settled_or(next_node: str) -> Route:
    def route(state: DeliberationState) -> str:
        return "persist" if "settled" in state else next_node

    return route


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
    graph.add_node("normalize", nodes.normalize)
    graph.add_node("load_context", nodes.load_context)
    graph.add_node("quant_report", nodes.quant_report)
    graph.add_node("pre_screen", nodes.pre_screen)
    graph.add_node("analyst", nodes.analyst)
    graph.add_node("validator", nodes.validator)
    graph.add_node("veto_gate", nodes.veto_gate)
    graph.add_node("commander", nodes.commander)
    graph.add_node("risk_guard", nodes.risk_guard)
    graph.add_node("execute", nodes.execute)
    graph.add_node("persist", nodes.persist)

    def after_normalize(state: DeliberationState) -> str:
        return "persist" if "prior" in state or "settled" in state else "load_context"

    def to_roles(state: DeliberationState, runtime: Any) -> list[str] | str:
        if "settled" in state:
            return "persist"
        mode = nodes.config(runtime).validation_mode
        return ["analyst", "validator"] if mode == "parallel" else "analyst"

    def after_analyst(state: DeliberationState, runtime: Any) -> str:
        return "validator" if nodes.config(runtime).validation_mode == "sequential" else "veto_gate"

    graph.add_edge(START, "normalize")
    graph.add_conditional_edges("normalize", after_normalize, ["load_context", "persist"])
    graph.add_edge("load_context", "quant_report")
    graph.add_edge("quant_report", "pre_screen")
    graph.add_conditional_edges("pre_screen", to_roles, ["analyst", "validator", "persist"])
    graph.add_conditional_edges("analyst", after_analyst, ["validator", "veto_gate"])
    graph.add_edge("validator", "veto_gate")
    graph.add_conditional_edges("veto_gate", _settled_or("commander"), ["commander", "persist"])
    graph.add_conditional_edges("commander", _settled_or("risk_guard"), ["risk_guard", "persist"])
    graph.add_conditional_edges("risk_guard", _settled_or("execute"), ["execute", "persist"])
    graph.add_edge("execute", "persist")
    graph.add_edge("persist", END)
    return graph.compile(checkpointer=checkpointer, name="deliberation")
