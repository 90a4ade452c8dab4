"""The benchmarks' floor has the real deliberation graph's shape: same nodes, same edges, same routing kind."""

from __future__ import annotations

from evals.floor import NODES, floor_graph
from tests.conftest import PipelineFactory


def _edges(graph: object) -> set[tuple[str, str, bool]]:
    drawn = graph.get_graph()  # type: ignore[attr-defined]
    return {(edge.source, edge.target, edge.conditional) for edge in drawn.edges}


async def test_the_floor_draws_exactly_the_real_graph(make_pipeline: PipelineFactory) -> None:
    pipeline = await make_pipeline()
    assert _edges(floor_graph().compile()) == _edges(pipeline.graph)


async def test_the_floor_runs_the_full_path_once_each() -> None:
    visited: list[str] = []
    async for update in floor_graph().compile().astream({"event": {}}, stream_mode="updates"):
        visited.extend(update)
    assert visited == list(NODES)
