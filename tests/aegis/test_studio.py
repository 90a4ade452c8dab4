"""`langgraph dev` serves the deliberation graph offline, and one event runs through its REST API."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import bundled_bars, signal

ROOT = Path(__file__).resolve().parents[2]
LANGGRAPH = Path(sys.executable).with_name("langgraph")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _call(method: str, url: str, body: dict[str, Any] | None = None, timeout: float = 60.0) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"null")


@pytest.fixture
def dev_server(tmp_path: Path) -> Any:
    if not LANGGRAPH.exists():
        pytest.fail("langgraph CLI missing: install the dev extra (pip install -e '.[dev]')")
    port = _free_port()
    env = {
        **os.environ,
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "LANGGRAPH_NO_VERSION_CHECK": "true",
        "AEGIS_DATA_DIR": str(tmp_path / "data"),
    }
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [str(LANGGRAPH), "dev", "--no-browser", "--no-reload", "--port", str(port), "--host", "127.0.0.1"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"langgraph dev exited: {(tmp_path / 'server.log').read_text()[-2000:]}")
        try:
            _call("GET", f"{base}/ok", timeout=2)
            break
        except OSError:
            time.sleep(0.3)
    else:
        process.kill()
        pytest.fail(f"langgraph dev did not start: {(tmp_path / 'server.log').read_text()[-2000:]}")
    yield base
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


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
