"""`aegis migrate` / `aegis feed` run to completion; `WorkerFleet` runs `aegis worker` processes in named
slots that a test kills with SIGKILL and starts again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# `aegis worker` runs on the wall clock and the bundled bars are from 2012-2017: without these every event
# would be screened out as stale (its market data, the event itself, the VIX) and the roles would never be asked.
MAX_MARKET_AGE_S = 1e10


def aegis_command(*args: str) -> list[str]:
    """The installed `aegis` console script next to this interpreter, else `python -m aegis`."""
    script = Path(sys.executable).with_name("aegis")
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "aegis", *args]


def aegis_env(
    *,
    postgres_url: str,
    redis_url: str,
    prefix: str,
    data_dir: Path,
    claim_idle_ms: int = 3_000,
    max_deliveries: int = 5,
) -> dict[str, str]:
    """The environment of every process of one deployment; no other AEGIS_* setting leaks in. The roles
    keep their default provider, `rules` (deterministic, no key, no network)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AEGIS_")}
    env.update(
        {
            "AEGIS_POSTGRES_URL": postgres_url,
            "AEGIS_REDIS_URL": redis_url,
            "AEGIS_REDIS_PREFIX": prefix,
            "AEGIS_DATA_DIR": str(data_dir),
            "AEGIS_BUS_CLAIM_IDLE_MS": str(claim_idle_ms),
            "AEGIS_BUS_MAX_DELIVERIES": str(max_deliveries),
            "AEGIS_DELIBERATION__MAX_MARKET_AGE_S": str(MAX_MARKET_AGE_S),
            "AEGIS_DELIBERATION__MAX_EVENT_AGE_S": str(MAX_MARKET_AGE_S),
            "AEGIS_DELIBERATION__MAX_VIX_AGE_DAYS": str(MAX_MARKET_AGE_S / 86_400),
            "AEGIS_DELIBERATION__RISK_LIMITS__MAX_REFERENCE_AGE_S": str(MAX_MARKET_AGE_S),  # the guard's price
        }
    )
    return env


async def run_aegis(args: Sequence[str], env: dict[str, str], cwd: Path, timeout_s: float = 120) -> str:
    """Run one `aegis` command to its end; its output, or a failed test saying what it printed."""
    await asyncio.to_thread(cwd.mkdir, parents=True, exist_ok=True)
    done = await asyncio.to_thread(
        subprocess.run,
        aegis_command(*args),
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"aegis {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


@dataclass
class WorkerRun:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    killed: bool = False


@dataclass
class WorkerFleet:
    """`aegis worker` processes sharing one environment, one per named slot; a slot can be killed and
    started again (the new process takes the same consumer name)."""

    env: dict[str, str]
    cwd: Path
    until_idle: bool
    concurrency: int = 4
    runs: list[WorkerRun] = field(default_factory=list)

    def start(self, name: str) -> None:
        if self.current(name) is not None:
            raise RuntimeError(f"worker {name} is already running")
        self.cwd.mkdir(parents=True, exist_ok=True)
        log = self.cwd / f"{name}-{sum(run.name == name for run in self.runs)}.log"
        args = ["worker", "--name", name, "--concurrency", str(self.concurrency)]
        args += ["--until-idle"] if self.until_idle else []
        with log.open("wb") as out:
            process = subprocess.Popen(
                aegis_command(*args), env=self.env, cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT
            )
        self.runs.append(WorkerRun(name, process, log))

    def current(self, name: str) -> WorkerRun | None:
        """The slot's process if it is still running."""
        return next((r for r in self.runs if r.name == name and r.process.poll() is None), None)

    def kill(self, name: str) -> None:
        """SIGKILL: no drain, no goodbye; whatever it held stays pending on the bus."""
        run = self.current(name)
        if run is None:
            raise RuntimeError(f"worker {name} is not running")
        run.process.send_signal(signal.SIGKILL)
        run.process.wait(timeout=10)
        run.killed = True

    def running(self) -> list[str]:
        return [r.name for r in self.runs if r.process.poll() is None]

    async def wait(self, timeout_s: float) -> None:
        """Until every process has ended on its own (`--until-idle`); fails the test past `timeout_s`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.running():
            if loop.time() > deadline:
                self.dump_tasks()
                pytest.fail(f"workers {self.running()} still running after {timeout_s:.0f} s\n{self.tails()}")
            await asyncio.sleep(0.2)

    async def terminate(self, timeout_s: float = 30) -> None:
        """SIGTERM every running worker (they finish what they hold) and wait for them to end."""
        for run in self.runs:
            if run.process.poll() is None:
                run.process.send_signal(signal.SIGTERM)
        await self.wait(timeout_s)

    @contextlib.contextmanager
    def paused(self, names: Sequence[str]) -> Iterator[None]:
        """SIGSTOP the named workers for the block, SIGCONT them after it (also when it fails)."""
        stopped = [run for name in names if (run := self.current(name)) is not None]
        for run in stopped:
            run.process.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            for run in stopped:
                if run.process.poll() is None:
                    run.process.send_signal(signal.SIGCONT)

    def dump_tasks(self) -> None:
        """SIGUSR1 to every running worker: each writes its asyncio tasks' stacks into its log."""
        for run in self.runs:
            if run.process.poll() is None:
                run.process.send_signal(signal.SIGUSR1)
        time.sleep(1.0)

    def close(self) -> None:
        for run in self.runs:
            if run.process.poll() is None:
                run.process.kill()
                run.process.wait(timeout=10)

    def crashed(self) -> list[WorkerRun]:
        """Processes that ended with an error of their own (not killed by the test)."""
        return [r for r in self.runs if not r.killed and r.process.poll() not in (None, 0)]

    def tails(self, lines: int = 15) -> str:
        parts = []
        for run in self.runs:
            text = run.log.read_text(errors="replace").splitlines() if run.log.exists() else []
            status = "killed" if run.killed else f"exit {run.process.poll()}"
            dumped = [n for n, line in enumerate(text) if line.endswith("asyncio task(s)")]
            shown = text[dumped[-1] : dumped[-1] + 300] if dumped else text[-lines:]  # a task dump, whole
            parts.append(f"--- {run.log.name} ({status})\n" + "\n".join(shown))
        return "\n".join(parts)


async def wait_until(
    condition: Callable[[], Awaitable[bool]], timeout_s: float, what: str, fleet: WorkerFleet | None = None
) -> None:
    """Poll `condition`; fail the test past `timeout_s`, or at once if a worker of `fleet` died on its own."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await condition():
        details = fleet.tails() if fleet is not None else ""
        if fleet is not None and fleet.crashed():
            pytest.fail(f"a worker died while waiting for {what}\n{details}")
        if loop.time() > deadline:
            if fleet is not None:
                fleet.dump_tasks()
                details = fleet.tails()
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}\n{details}")
        await asyncio.sleep(0.2)
