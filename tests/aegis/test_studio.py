"""`langgraph dev` serves the deliberation graph offline, and one event runs through its REST API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import bundled_bars, signal
from tests.studio_server import call as _call
from tests.studio_server import dev_server as start_dev_server


@pytest.fixture
def dev_server(tmp_path: Path) -> Iterator[str]:
    with start_dev_server(tmp_path) as base:
        yield base


@pytest.mark.slow
def test_langgraph_dev_runs_one_event_through_the_deliberation(dev_server: str) -> None:
    assistants = _call("POST", f"{dev_server}/assistants/search", {"graph_id": "deliberation"})
    assert any(a["graph_id"] == "deliberation" for a in assistants)
    last_day = bundled_bars()[-1]
    thread = _call("POST", f"{dev_server}/threads", {})
    body = {
        "assistant_id": "deliberation",
        "input": {"event": signal("studio-e1", last_day)},
        "context": {"validation_mode": "sequential"},
    }
    result = _call("POST", f"{dev_server}/threads/{thread['thread_id']}/runs/wait", body)
    assert "decision" in result, result
    decision = result["decision"]
    assert decision["event_id"] == "studio-e1"
    assert decision["outcome"] in {"ordered", "hold", "vetoed", "blocked", "screened_out"}
    assert decision["quant_report"]["symbol"] == "AAPL"
    assert decision["posture"] in {"offensive", "guerrilla", "defensive"}
    if decision["stages"]:
        assert decision["validation_mode"] == "sequential"


@pytest.mark.slow
def test_studio_shows_the_workflow_stopping_at_the_approval_and_resumes_it(dev_server: str) -> None:
    """An operator request that changes something stops at the approval interrupt; answering it in Studio
    (a resume command) records the approval and runs the plan."""
    last_day = bundled_bars()[-1]
    thread = _call("POST", f"{dev_server}/threads", {})
    request = {
        "id": "studio-ask-1", "type": "OPERATOR_REQUEST", "source": "studio", "event_time": last_day.time.isoformat(),
        "payload": {"operator": "ana", "request": "halt trading on MSFT", "role": "trade"},
    }  # fmt: skip
    runs = f"{dev_server}/threads/{thread['thread_id']}/runs/wait"
    stopped = _call("POST", runs, {"assistant_id": "workflow", "input": {"event": request}})
    [waiting] = stopped["__interrupt__"]
    assert waiting["value"]["approval"]["approval_id"] == "workflow:studio-ask-1"
    assert waiting["value"]["decision"]["outcome"] == "awaiting_approval"
    answer = {"approved": True, "by": "ben", "role": "trade", "reason": "approved in Studio"}
    done = _call("POST", runs, {"assistant_id": "workflow", "command": {"resume": answer}})
    decision = done["decision"]
    assert decision["outcome"] == "applied", decision["reason"]
    assert decision["operation"]["approval"]["by"] == "ben"
    assert decision["operation"]["review"]["verdict"] == "pass"
