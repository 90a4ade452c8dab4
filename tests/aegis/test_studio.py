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
