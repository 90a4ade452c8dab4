"""Through `langgraph dev`'s REST API (what LangGraph Studio calls): every graph in `langgraph.json` has typed input
and output schemas, and a run whose input lacks `event` fails with a validation error that names `event`.

Loopback only; the server runs offline (no analytics, no version check) on a free port, in its own process group,
and is stopped at the end of the module.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.graphs.test_studio_schemas import GRAPHS, assert_studio_schemas

ROOT = Path(__file__).resolve().parents[2]
LANGGRAPH = Path(sys.executable).with_name("langgraph")
START_TIMEOUT_S = 90.0
LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a configured proxy
ANSI = re.compile(r"\x1b\[[0-9;]*m")

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _call(method: str, url: str, body: dict[str, Any] | None = None, timeout: float = 60.0) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with LOOPBACK.open(request, timeout=timeout) as response:
        return json.loads(response.read() or b"null")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)  # the group this test started (start_new_session)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not LANGGRAPH.exists():
        pytest.fail("langgraph CLI missing: install the dev extra (pip install -e '.[dev]')")
    folder = tmp_path_factory.mktemp("studio_server")
    port = _free_port()
    env = {
        **os.environ,
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "LANGGRAPH_NO_VERSION_CHECK": "true",
        "AEGIS_DATA_DIR": str(folder / "data"),
    }
    log_path = folder / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(LANGGRAPH), "dev", "--no-browser", "--no-reload", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"langgraph dev exited ({process.returncode}): {log_path.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"langgraph dev not up after {START_TIMEOUT_S:.0f} s: {log_path.read_text()[-3000:]}")
            try:
                _call("GET", f"{base}/ok", timeout=2)
                break
            except OSError:
                time.sleep(0.3)
        # The server takes another port, silently, when the one asked for is taken: make sure it is ours.
        banner = ANSI.sub("", log_path.read_text())
        assert f"API: {base}\n" in banner, banner[-3000:]
        yield base
    finally:
        _stop(process)


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
