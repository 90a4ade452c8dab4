"""`aegis serve` as an operator starts it: a real process on loopback, a key made with `aegis keys create`,
real HTTP calls, and a clean stop on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.throwaway import free_port

KEY = re.compile(r"aegis_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


@pytest.mark.slow
def test_serve_binds_loopback_answers_with_a_key_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "AEGIS_DATA_DIR": str(tmp_path / "records"), "AEGIS_CHECKPOINTS": "false"}
    env.pop("AEGIS_POSTGRES_URL", None), env.pop("AEGIS_REDIS_URL", None)
    made = subprocess.run([sys.executable, "-m", "aegis", "keys", "create", "desk", "--role", "trade"],
                          env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert made.returncode == 0, made.stderr
    key = KEY.search(made.stdout)
    assert key is not None
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "aegis", "serve", "--port", str(port)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/api/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            assert time.monotonic() < deadline, "aegis serve did not come up in 30 s"
            time.sleep(0.1)
        headers = {"Authorization": f"Bearer {key.group(0)}"}
        assert httpx.get(f"{base}/api/trading", timeout=5).status_code == 401
        halted = httpx.post(f"{base}/api/trading/halt", json={"reason": "serve drill"}, headers=headers, timeout=10)
        assert halted.status_code == 200, halted.text
        assert httpx.get(f"{base}/api/trading", headers=headers, timeout=5).json()["account"]["state"] == "halted"
        assert "/api/trading/halt" in httpx.get(f"{base}/openapi.json", timeout=5).json()["paths"]
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    # uvicorn finishes the requests in flight and the app's shutdown, then re-raises the signal it caught
    assert server.returncode in (0, -signal.SIGTERM), output
    assert f"http://127.0.0.1:{port}" in output  # loopback unless told otherwise
    assert key.group(0) not in output  # nothing the server logged holds the key
