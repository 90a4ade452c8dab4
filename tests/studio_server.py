"""`langgraph dev` for the tests that go through Studio's REST API: started offline on a free loopback port
in its own process group, checked to have taken that port, and stopped (the whole group) at the end."""

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
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
LANGGRAPH = Path(sys.executable).with_name("langgraph")
START_TIMEOUT_S = 90.0
LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a configured proxy
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def call(method: str, url: str, body: dict[str, Any] | None = None, timeout: float = 60.0) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with LOOPBACK.open(request, timeout=timeout) as response:
        return json.loads(response.read() or b"null")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)  # the group this helper started (start_new_session)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)


@contextmanager
def dev_server(folder: Path) -> Iterator[str]:
    """A running `langgraph dev` with its data folder and log in `folder`; yields its base URL."""
    if not LANGGRAPH.exists():
        pytest.fail("langgraph CLI missing: install the dev extra (pip install -e '.[dev]')")
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
                call("GET", f"{base}/ok", timeout=2)
                break
            except OSError:
                time.sleep(0.3)
        # The server takes another port, silently, when the one asked for is taken: make sure it is ours.
        banner = ANSI.sub("", log_path.read_text())
        assert f"API: {base}\n" in banner, banner[-3000:]
        yield base
    finally:
        _stop(process)
