"""The framework's floor for benchmarks: the deliberation graph's topology with no-op nodes.

Timed with the same checkpointer as the real graph, it shows what LangGraph and the checkpoints cost
before any of the project's work.
"""

from __future__ import annotations

import itertools
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph

NODES = (
    "normalize", "load_context", "quant_report", "pre_screen", "analyst", "validator",
    "veto_gate", "commander", "risk_guard", "execute", "persist",
)  # fmt: skip


class FloorState(TypedDict, total=False):
    event: dict[str, Any]
    out: int


def floor_graph() -> StateGraph[FloorState, Any, Any, Any]:
    """normalize -> .. -> pre_screen -> (analyst || validator) -> veto_gate -> .. -> persist, all no-ops."""

    async def noop(state: FloorState) -> dict[str, Any]:
        return {}

    graph: StateGraph[FloorState, Any, Any, Any] = StateGraph(FloorState)
    for name in NODES:
        graph.add_node(name, noop)
    graph.add_edge(START, "normalize")
    for a, b in itertools.pairwise(["normalize", "load_context", "quant_report", "pre_screen"]):
        graph.add_edge(a, b)
    graph.add_edge("pre_screen", "analyst")
    graph.add_edge("pre_screen", "validator")
    graph.add_edge(["analyst", "validator"], "veto_gate")
    for a, b in itertools.pairwise(["veto_gate", "commander", "risk_guard", "execute", "persist"]):
        graph.add_edge(a, b)
    graph.add_edge("persist", END)
    return graph
