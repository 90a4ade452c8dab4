"""`aegis serve` as a real process, as an operator starts it: keys made with `aegis keys create`, the server
on a free loopback port, stopped with SIGTERM. Used by the tests that need the whole process (its binding,
its log)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.throwaway import free_port

KEY = re.compile(r"aegis_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


def embedded_env(records: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "AEGIS_DATA_DIR": str(records), "AEGIS_CHECKPOINTS": "false", **extra}
    for name in ("AEGIS_POSTGRES_URL", "AEGIS_REDIS_URL", "AEGIS_ENV"):
        env.pop(name, None)
    return env


def make_key(env: Mapping[str, str], name: str, role: str) -> str:
    made = subprocess.run([sys.executable, "-m", "aegis", "keys", "create", name, "--role", role],
                          env=dict(env), capture_output=True, text=True, timeout=60)  # fmt: skip
    assert made.returncode == 0, made.stderr
    found = KEY.search(made.stdout)
    assert found is not None, made.stdout
    return found.group(0)


@dataclass
class ServeProcess:
    base: str
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)  # what it printed so far (read as it comes: a full pipe blocks)

    @property
    def output(self) -> str:
        return "".join(self.lines)


@contextmanager
def serve_process(env: Mapping[str, str]) -> Iterator[ServeProcess]:
    """A running `aegis serve`; on leaving, SIGTERM, and its whole output in `.output`."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "aegis", "serve", "--port", str(port)], env=dict(env),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    running = ServeProcess(f"http://127.0.0.1:{port}", process)
    stdout = process.stdout
    assert stdout is not None
    reader = threading.Thread(target=lambda: running.lines.extend(iter(stdout.readline, "")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{running.base}/api/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, running.output
            assert time.monotonic() < deadline, "aegis serve did not come up in 30 s"
            time.sleep(0.1)
        yield running
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        reader.join(timeout=10)
