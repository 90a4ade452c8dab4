"""Through `langgraph dev`'s REST API (what LangGraph Studio calls): every graph in `langgraph.json` has typed input
and output schemas, and a run whose input lacks `event` fails with a validation error that names `event`.

Loopback only; the server runs offline (no analytics, no version check) on a free port, in its own process group,
and is stopped at the end of the module.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.graphs.test_studio_schemas import GRAPHS, assert_studio_schemas
from tests.studio_server import call as _call
from tests.studio_server import dev_server as start_dev_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with start_dev_server(tmp_path_factory.mktemp("studio_server")) as base:
        yield base


def _assistant_id(base: str, graph_id: str) -> str:
    found = _call("POST", f"{base}/assistants/search", {"graph_id": graph_id, "limit": 100})
    ids = [a["assistant_id"] for a in found if a["graph_id"] == graph_id]
    assert ids, f"no assistant for graph {graph_id!r}: {found}"
    return str(ids[0])


@pytest.mark.parametrize("graph_id", sorted(GRAPHS))
def test_the_server_returns_typed_input_and_output_schemas(dev_server: str, graph_id: str) -> None:
    schemas = _call("GET", f"{dev_server}/assistants/{_assistant_id(dev_server, graph_id)}/schemas")
    assert schemas["graph_id"] == graph_id
    assert schemas["input_schema"] is not None, "input schema null: Studio would draw no input form"
    assert schemas["output_schema"] is not None
    assert "event" in schemas["input_schema"]["required"]
    assert schemas["input_schema"]["properties"]["event"]["type"] == "object"
    assert_studio_schemas(schemas["input_schema"], schemas["output_schema"])


@pytest.mark.parametrize(
    ("graph_input", "message"),
    [({"note": "no event here"}, "Field required"), ({"event": "SIGNAL_GENERATED"}, "valid dictionary")],
    ids=["no-event", "event-not-an-object"],
)
def test_a_run_without_an_event_object_fails_naming_event(
    dev_server: str, graph_input: dict[str, Any], message: str
) -> None:
    assistant_id = _assistant_id(dev_server, "deliberation")
    thread = _call("POST", f"{dev_server}/threads", {})
    body = {"assistant_id": assistant_id, "input": graph_input}
    result = _call("POST", f"{dev_server}/threads/{thread['thread_id']}/runs/wait", body)
    error = result["__error__"]
    assert error["error"] == "ValidationError", error
    assert "\nevent\n" in error["message"] and message in error["message"], error
    assert "KeyError" not in json.dumps(result)
    [run] = _call("GET", f"{dev_server}/threads/{thread['thread_id']}/runs")
    assert run["status"] == "error"
