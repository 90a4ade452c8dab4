"""Tools of the system tests: the deployment as separate `aegis` processes on real servers, broken on purpose.

- A tape of real bundled data: the tape `run_replay` writes for the whole bundle (12 symbols, 2012-2017),
  its signal events, more signal events made from real bars when the screen gives too few, and invalid
  events with known ids (they must end in the dead-letter stream, and only they).
- `aegis migrate` / `aegis feed` run to completion; `WorkerFleet` runs `aegis worker` processes in named
  slots that a test kills with SIGKILL and starts again.
- `ThrowawayPostgres`: a PostgreSQL cluster of the test's own (initdb + pg_ctl) that it may stop and start;
  the machine's own servers stay up.
- Readers of what a run left behind: decisions and orders in PostgreSQL, the bus in Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis.asyncio as aioredis

from aegis.runtime.replay_job import WARMUP_DAYS, ReplayOptions, run_replay
from aegis.settings import Settings
from state.bus.redis_streams import RedisStreamsBus
from state.context import OperatingMode
from state.events import EventType
from tests.services import require_service
from tests.throwaway import free_port
from tools.feeds.bars import panel_bar
from tools.feeds.bundled import load_bundled_daily

# The hot window is 120 bars: ticks older than the last 130 trading days would be pushed out of it before
# any worker reads them (the feed runs to its end first), so the tapes carry only the recent ones.
TICK_DAYS = 130
# `aegis worker` runs on the wall clock and the bundled bars are from 2012-2017: without this every event
# would be screened out as stale market data and the roles would never be asked.
MAX_MARKET_AGE_S = 1e10
EXTRA_SIGNAL = "bar_direction"


# ---- tapes ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tape:
    path: Path
    valid_ids: frozenset[str]
    invalid_ids: frozenset[str]
    ticks: int
    replay_signals: int  # signal events of the replay's screen
    extra_signals: int  # signal events made from real bars to reach the size asked for

    @property
    def published(self) -> int:
        return len(self.valid_ids) + len(self.invalid_ids)


@pytest.fixture(scope="session")
def replay_tape(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tape `run_replay` writes for the whole bundle: every tick (VIX included) and every signal event.

    Written once per test session. The run itself is halted (`mode=halted`, no checkpoints): only its
    tape is wanted, and the halted pre-screen keeps the replay short.
    """
    folder = tmp_path_factory.mktemp("replay")
    tape = folder / "bundle.jsonl"
    settings = Settings(data_dir=folder / "data", checkpoints=False, mode=OperatingMode.HALTED)
    options = ReplayOptions(days_per_second=0, concurrency=8, events_out=tape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "durability has no effect" without a checkpointer
        asyncio.run(run_replay(settings, options))
    return tape


def extra_signals(count: int, taken: set[str]) -> list[dict[str, Any]]:
    """`count` signal events on real bundled bars, spread evenly over the days after the warm-up.

    Deterministic: the signal says which way the bar went (long if it closed at or above its open), with
    the body's share of the range as its strength. Ids already `taken` are skipped.
    """
    panel = load_bundled_daily()
    rows = range(WARMUP_DAYS, len(panel.dates))
    stride = max(1, len(rows) * len(panel.symbols) // max(1, count))
    found: list[dict[str, Any]] = []
    for offset in range(stride):
        for row in rows[offset::stride]:
            for column, symbol in enumerate(panel.symbols):
                bar = panel_bar(panel, row, column)
                event_id = f"{symbol}-{panel.dates[row].isoformat()}-{EXTRA_SIGNAL}"
                if bar is None or event_id in taken:
                    continue
                body, span = abs(bar.close - bar.open), max(bar.high - bar.low, 1e-9)
                found.append(
                    {
                        "id": event_id,
                        "type": EventType.SIGNAL_GENERATED.value,
                        "source": "system-test:bundled-daily",
                        "symbols": [symbol],
                        "event_time": bar.time.isoformat(),
                        "payload": {
                            "signal": EXTRA_SIGNAL,
                            "direction": "long" if bar.close >= bar.open else "short",
                            "strength": round(min(1.0, body / span), 4),
                            "bar": bar.model_dump(mode="json"),
                        },
                    }
                )
                if len(found) == count:
                    return found
    raise ValueError(f"the bundle has fewer than {count} bars to make signals from")


def invalid_events(base: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """`count` (at most 10) events that validation must reject, ids bad-00.., each wrong in its own way."""
    bar = base["payload"]["bar"]

    def signal_with(**payload: Any) -> dict[str, Any]:
        return {**base, "payload": {**base["payload"], **payload}}

    broken: list[dict[str, Any]] = [
        {**base, "type": "NOT_AN_EVENT_TYPE"},
        {key: value for key, value in base.items() if key != "payload"},
        {**base, "source": ""},
        signal_with(bar={**bar, "close": -1.0}),
        signal_with(bar={**bar, "high": bar["low"] / 2}),
        signal_with(strength=1.5),
        signal_with(direction="sideways"),
        {**base, "event_time": "2099-01-02T21:00:00+00:00"},
        {  # an invalid tick: the feeder cannot use it, so it goes on the bus to be rejected there
            "type": EventType.MARKET_TICK.value,
            "source": base["source"],
            "symbols": base["symbols"],
            "event_time": base["event_time"],
            "payload": {"bar": {**bar, "volume": -1.0}},
        },
        {**base, "symbols": []},
    ]
    if count > len(broken):
        raise ValueError(f"at most {len(broken)} invalid events")
    return [{**event, "id": f"bad-{n:02d}"} for n, event in enumerate(broken[:count])]


def build_tape(replay_tape: Path, out: Path, *, valid: int, invalid: int = 0) -> Tape:
    """A tape for the feeder: the replay's last TICK_DAYS days of ticks, then `valid` signal events in time
    order (the replay's most recent ones; more made from real bars if it has too few) with `invalid`
    rejected-on-purpose events spread among them."""
    lines = [json.loads(line) for line in replay_tape.read_text(encoding="utf-8").splitlines() if line.strip()]
    ticks = [e for e in lines if e["type"] == EventType.MARKET_TICK.value]
    recent_days = set(sorted({e["event_time"] for e in ticks})[-TICK_DAYS:])
    ticks = [e for e in ticks if e["event_time"] in recent_days]
    signals = [e for e in lines if e["type"] == EventType.SIGNAL_GENERATED.value]
    chosen = signals[-valid:] if valid <= len(signals) else signals
    extra = extra_signals(valid - len(chosen), {e["id"] for e in chosen}) if valid > len(chosen) else []
    events = sorted(chosen + extra, key=lambda e: (e["event_time"], e["id"]))
    bad = invalid_events(events[0], invalid)
    for n, event in enumerate(bad, start=1):
        events.insert(n * len(events) // (len(bad) + 1), event)
    with out.open("w", encoding="utf-8") as tape:
        for event in ticks + events:
            tape.write(json.dumps(event, sort_keys=True, separators=(",", ":")) + "\n")
    return Tape(
        path=out,
        valid_ids=frozenset(e["id"] for e in chosen + extra),
        invalid_ids=frozenset(e["id"] for e in bad),
        ticks=len(ticks),
        replay_signals=len(chosen),
        extra_signals=len(extra),
    )


# ---- processes -----------------------------------------------------------------------------------


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
                pytest.fail(f"workers {self.running()} still running after {timeout_s:.0f} s\n{self.tails()}")
            await asyncio.sleep(0.2)

    async def terminate(self, timeout_s: float = 30) -> None:
        """SIGTERM every running worker (they finish what they hold) and wait for them to end."""
        for run in self.runs:
            if run.process.poll() is None:
                run.process.send_signal(signal.SIGTERM)
        await self.wait(timeout_s)

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
            parts.append(f"--- {run.log.name} ({status})\n" + "\n".join(text[-lines:]))
        return "\n".join(parts)


@pytest.fixture
def fleets() -> Iterator[Callable[..., WorkerFleet]]:
    """Make worker fleets; whatever they left running is killed when the test ends, pass or fail."""
    made: list[WorkerFleet] = []

    def make(env: dict[str, str], cwd: Path, *, until_idle: bool, concurrency: int = 4) -> WorkerFleet:
        fleet = WorkerFleet(env, cwd, until_idle=until_idle, concurrency=concurrency)
        made.append(fleet)
        return fleet

    yield make
    for fleet in made:
        fleet.close()


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
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}\n{details}")
        await asyncio.sleep(0.2)


# ---- a PostgreSQL cluster of the test's own ---------------------------------------------------------


def postgres_bindir() -> Path | None:
    """Where initdb and pg_ctl live: on PATH, else the newest /usr/lib/postgresql/<version>/bin."""
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).parent
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    return found[-1].parent if found else None


class ThrowawayPostgres:
    """initdb + pg_ctl on a free port, data in a temporary folder; run as the `postgres` OS user when the
    test runs as root (initdb refuses root). Trust authentication on loopback only."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="aegis-pg-"))
        self.data = self.directory / "data"
        self._as_postgres = os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {done.stdout}{done.stderr}")

    def init(self) -> None:
        if self._as_postgres:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} -c fsync=off"
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.directory / "server.log"), "-w", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(RuntimeError):  # not running
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    bindir = postgres_bindir()
    require_service("PostgreSQL binaries", bindir is not None, "no pg_ctl on PATH or under /usr/lib/postgresql")
    assert bindir is not None
    if os.geteuid() == 0:
        require_service("runuser", shutil.which("runuser") is not None, "initdb refuses root and runuser is missing")
    server = ThrowawayPostgres(bindir)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.destroy()


# ---- what a run left behind ----------------------------------------------------------------------


@dataclass(frozen=True)
class Records:
    outcomes: dict[str, str]  # event id -> outcome, one row per decided event (the primary key)
    context_sources: dict[str, str | None]
    order_event_ids: list[str]  # one entry per order row

    def with_outcome(self, outcome: str) -> set[str]:
        return {event_id for event_id, found in self.outcomes.items() if found == outcome}


async def decided(postgres_url: str) -> int:
    async with await psycopg.AsyncConnection.connect(postgres_url, connect_timeout=3) as db:
        row = await (await db.execute("SELECT count(*) FROM decisions")).fetchone()
    return int(row[0]) if row else 0


async def records(postgres_url: str) -> Records:
    async with await psycopg.AsyncConnection.connect(postgres_url, connect_timeout=3) as db:
        rows = await (await db.execute("SELECT event_id, outcome, record FROM decisions")).fetchall()
        orders = await (await db.execute("SELECT event_id FROM orders")).fetchall()
    return Records(
        outcomes={event_id: outcome for event_id, outcome, _ in rows},
        context_sources={event_id: json.loads(record).get("context_source") for event_id, _, record in rows},
        order_event_ids=[event_id for (event_id,) in orders],
    )


@dataclass(frozen=True)
class BusState:
    unacked: int  # entries still in the stream: acked and dead-lettered entries are deleted from it
    pending: int  # delivered, neither acked nor dead-lettered
    dead_ids: list[str]  # event ids in the dead-letter stream, oldest first


class BusProbe:
    """Reads one deployment's bus (stream `<prefix>:events`, group `<prefix>-workers`) from outside."""

    def __init__(self, redis_url: str, prefix: str) -> None:
        self._bus = RedisStreamsBus.from_url(redis_url, stream=f"{prefix}:events", group=f"{prefix}-workers")
        self._client = aioredis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=2)
        self._stream = f"{prefix}:events"
        self._group = f"{prefix}-workers"

    async def state(self) -> BusState:
        dead = await self._bus.dead_letters(limit=100_000)
        return BusState(
            unacked=int(await self._client.xlen(self._stream)),
            pending=await self._bus.pending_count(),
            dead_ids=[str(d["event"].get("id")) for d in dead],
        )

    async def pending_of(self, consumer: str) -> int:
        """Entries delivered to `consumer` and not yet acked (what it holds in flight)."""
        rows = await self._client.xpending_range(
            self._stream, self._group, min="-", max="+", count=10_000, consumername=consumer
        )
        return len(rows)

    async def close(self) -> None:
        await self._bus.close()
        await self._client.aclose()
