"""`aegis serve` as an operator starts it: a real process on loopback, a key made with `aegis keys create`,
real HTTP calls, and a clean stop on SIGTERM."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from tests.aegis.server.serve_process import embedded_env, make_key, serve_process


@pytest.mark.slow
def test_serve_binds_loopback_answers_with_a_key_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = embedded_env(tmp_path / "records")
    key = make_key(env, "desk", "trade")
    with serve_process(env) as server:
        headers = {"Authorization": f"Bearer {key}"}
        assert httpx.get(f"{server.base}/api/trading", timeout=5).status_code == 401
        halted = httpx.post(f"{server.base}/api/trading/halt", json={"reason": "serve drill"}, headers=headers,
                            timeout=10)  # fmt: skip
        assert halted.status_code == 200, halted.text
        assert (
            httpx.get(f"{server.base}/api/trading", headers=headers, timeout=5).json()["account"]["state"] == "halted"
        )
        assert "/api/trading/halt" in httpx.get(f"{server.base}/openapi.json", timeout=5).json()["paths"]
    # uvicorn finishes the requests in flight and the app's shutdown, then re-raises the signal it caught
    assert server.process.returncode in (0, -signal.SIGTERM), server.output
    assert f"http://127.0.0.1:{server.base.rsplit(':', 1)[1]}" in server.output  # loopback unless told otherwise
