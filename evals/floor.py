"""The framework's floor for benchmarks: the deliberation graph's topology with no-op nodes.

Timed with the same checkpointer as the real graph, it shows what LangGraph and the checkpoints cost
before any of the project's work. It routes as the real graph does: the nodes where the real path forks
return a `Command` naming the next node (always the full path here), the others have plain edges.
"""

from __future__ import annotations

from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Command

NODES = (
    "normalize", "load_context", "quant_report", "pre_screen", "analyst", "validator",
    "veto_gate", "commander", "risk_guard", "rune", "approval_gate", "execute", "persist",
)  # fmt: skip
# The real graph's forks, each with the way the full path takes and the other destinations it may take.
FORKS: dict[str, tuple[str | list[str], tuple[str, ...]]] = {
    "normalize": ("load_context", ("load_context", "persist")),
    "pre_screen": (["analyst", "validator"], ("analyst", "validator", "persist")),
    "analyst": ("veto_gate", ("validator", "veto_gate")),
    "veto_gate": ("commander", ("commander", "persist")),
    "commander": ("risk_guard", ("risk_guard", "persist")),
    "risk_guard": ("rune", ("rune", "persist")),
    "rune": ("approval_gate", ("approval_gate", "persist")),
    "approval_gate": ("execute", ("execute", "persist")),
}
EDGES = (
    ("load_context", "quant_report"), ("quant_report", "pre_screen"), ("validator", "veto_gate"),
    ("execute", "persist"),
)  # fmt: skip


class FloorState(TypedDict, total=False):
    event: dict[str, Any]
    out: int


async def _noop(state: FloorState) -> dict[str, Any]:
    return {}


def _goes_to(path: str | list[str]) -> Any:
    async def fork(state: FloorState) -> Command[Any]:
        return Command(update={}, goto=path)

    return fork


def floor_graph() -> StateGraph[FloorState, Any, Any, Any]:
    """normalize -> .. -> pre_screen -> (analyst || validator) -> veto_gate -> .. -> persist, all no-ops."""
    graph: StateGraph[FloorState, Any, Any, Any] = StateGraph(FloorState)
    for name in NODES:
        if name in FORKS:
            path, destinations = FORKS[name]
            graph.add_node(name, _goes_to(path), destinations=destinations)
        else:
            graph.add_node(name, _noop)
    graph.add_edge(START, "normalize")
    for a, b in EDGES:
        graph.add_edge(a, b)
    graph.add_edge("persist", END)
    return graph
