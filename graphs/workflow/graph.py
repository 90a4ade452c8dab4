"""The operator workflow graph: one OPERATOR_REQUEST in, one decision out.

    normalize -> sena -> lubit --revise (at most `max_revisions`)--> sena
                           |--reject--> persist
                           '--approve--> approval (interrupt when a step changes anything)
                                           --rejected--> persist
                                           '--> gitcode -> rune -> persist

Thread id = request id: a plan waiting at the approval interrupt is checkpointed, so it is approved or
rejected later (the CLI, the Python API, Studio), after a restart too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Checkpointer

from graphs.deliberation.context import RunKnobs
from graphs.deliberation.services import Services
from graphs.deliberation.state import DeliberationInput, DeliberationOutput
from graphs.operations import Graph, OpsServices
from graphs.wiring import input_checked, routed, settled_or
from graphs.workflow.nodes import WorkflowNodes
from graphs.workflow.state import WorkflowState


def build_workflow_graph(services: Services, ops: OpsServices, checkpointer: Checkpointer = None) -> Graph:
    if ops.workflow is None:
        raise ValueError("the workflow needs its services (tool registry, approvals): OpsServices.workflow")
    nodes = WorkflowNodes(services, ops, ops.workflow)
    graph = StateGraph(
        WorkflowState, context_schema=RunKnobs, input_schema=DeliberationInput, output_schema=DeliberationOutput
    )

    def after_normalize(state: Mapping[str, Any], runtime: Runtime[RunKnobs]) -> str:
        return "persist" if "prior" in state or "settled" in state else "sena"

    def after_lubit(state: Mapping[str, Any], runtime: Runtime[RunKnobs]) -> str:
        if "settled" in state:
            return "persist"
        return "approval" if state["lubit"].verdict == "approve" else "sena"

    # A routed node's wrapper is typed with the deliberation's state: each is given the workflow's state whole.
    graph.add_node("normalize", routed(input_checked(nodes.normalize), after_normalize),
                   destinations=("sena", "persist"), input_schema=WorkflowState)  # fmt: skip
    graph.add_node("sena", nodes.sena)
    graph.add_node("lubit", routed(nodes.lubit, after_lubit), destinations=("sena", "approval", "persist"),
                   input_schema=WorkflowState)  # fmt: skip
    graph.add_node("approval", routed(nodes.approval, settled_or("gitcode")), destinations=("gitcode", "persist"),
                   input_schema=WorkflowState)  # fmt: skip
    graph.add_node("gitcode", nodes.gitcode)
    graph.add_node("rune", nodes.rune)
    graph.add_node("persist", nodes.persist)
    graph.add_edge(START, "normalize")
    graph.add_edge("sena", "lubit")
    graph.add_edge("gitcode", "rune")
    graph.add_edge("rune", "persist")
    graph.add_edge("persist", END)
    return graph.compile(checkpointer=checkpointer or ops.workflow.checkpointer, name="workflow")
