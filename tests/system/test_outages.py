"""A server of the deployment goes away while workers run, then comes back: nothing is lost or doubled.

- Redis (bus and hot store, a throwaway `redis-server` with its append-only file on) is killed and started
  again: while it is away the sessions already handed out read the hot context from PostgreSQL (their
  records say "durable fallback ..."), and once it is back (with its streams and pending entries, from
  the append-only file) the workers carry on.
- PostgreSQL (a throwaway cluster) is stopped: sessions fail, their events stay pending and unacknowledged,
  no decision is written; when it starts again the pending events are claimed and decided.
Workers run without `--until-idle` and are stopped with SIGTERM at the end (their drain).
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from tests.services import require_service
from tests.system.fleet import WorkerFleet, aegis_env, run_aegis, wait_until
from tests.system.records import TAPE_DECISIONS, BusProbe, BusState, decided, records
from tests.system.tapes import Tape, build_tape
from tests.system.throwaway_postgres import ThrowawayPostgres
from tests.throwaway import ThrowawayRedis, free_port

pytestmark = [pytest.mark.slow, pytest.mark.services]

WORKERS = ("w0", "w1", "w2")
VALID_EVENTS = 600
INVALID_EVENTS = 3
DOWN_S = 5.0


async def _decided_at_least(postgres_url: str, count: float) -> bool:
    return await decided(postgres_url) >= count


async def _drained(bus: BusProbe) -> bool:
    state = await bus.state()
    return state.pending == 0 and state.unacked == 0


async def _run_to_the_end(fleet: WorkerFleet, bus: BusProbe, postgres_url: str, tape: Tape) -> BusState:
    """Wait until every event is decided and the bus is drained, then SIGTERM the workers."""
    await wait_until(lambda: _decided_at_least(postgres_url, tape.published), 120, "every event decided", fleet)
    await wait_until(lambda: _drained(bus), 60, "the bus drained", fleet)
    await fleet.terminate(timeout_s=60)  # a loaded 2-core machine: one drain after a Redis restart took over 30 s
    return await bus.state()


async def _check_exactly_once(postgres_url: str, tape: Tape, after: BusState) -> None:
    found = await records(postgres_url)
    assert set(found.outcomes) == tape.valid_ids | tape.invalid_ids
    assert found.with_outcome("rejected") == tape.invalid_ids
    asked = {event_id for event_id, outcome in found.outcomes.items() if outcome not in ("screened_out", "rejected")}
    assert len(asked) >= 20  # the roles were asked: a run stopped at the pre-screen would prove little
    assert len(found.order_event_ids) == len(set(found.order_event_ids))
    assert set(found.order_event_ids) == found.with_outcome("ordered")
    assert (after.pending, after.unacked) == (0, 0)
    assert sorted(after.dead_ids) == sorted(tape.invalid_ids)


async def test_a_redis_restart_mid_run_falls_back_to_postgres_and_decides_every_event_once(
    tmp_path: Path, postgres_url: str, replay_tape: Path, fleets: Callable[..., WorkerFleet]
) -> None:
    binary = shutil.which("redis-server")
    require_service("redis-server", binary is not None, "the redis-server binary is not on PATH")
    assert binary is not None
    (tmp_path / "redis").mkdir()
    server = ThrowawayRedis(binary, free_port(), tmp_path / "redis", persistent=True)
    server.start()
    tape = build_tape(replay_tape, tmp_path / "tape.jsonl", valid=VALID_EVENTS, invalid=INVALID_EVENTS)
    env = aegis_env(postgres_url=postgres_url, redis_url=server.url, prefix="outage", data_dir=tmp_path / "data")
    cwd = tmp_path / "run"
    bus = BusProbe(server.url, "outage")
    fleet = fleets(env, cwd, until_idle=False)
    try:
        await run_aegis(["feed", str(tape.path)], env, cwd)
        for name in WORKERS:
            fleet.start(name)
        await wait_until(lambda: _decided_at_least(postgres_url, 0.25 * tape.published), 90, "a quarter decided", fleet)
        server.kill()
        await asyncio.sleep(DOWN_S)
        server.start()  # the append-only file brings back the stream, the group and its pending entries
        after = await _run_to_the_end(fleet, bus, postgres_url, tape)
    finally:
        await bus.close()
        fleet.close()
        server.kill()

    assert not fleet.crashed(), f"a worker died of the Redis restart\n{fleet.tails()}"
    await _check_exactly_once(postgres_url, tape, after)
    sources = (await records(postgres_url)).context_sources.values()
    fallbacks = [s for s in sources if s and s.startswith("durable")]
    assert fallbacks, "no session read its context from PostgreSQL while Redis was away"
    assert any("hot store unavailable" in s for s in fallbacks)
    print(f"\nredis restart: {len(fallbacks)} of {tape.published} sessions read the durable context")


async def test_a_postgres_stop_leaves_events_pending_until_it_is_back(
    tmp_path: Path,
    throwaway_postgres: ThrowawayPostgres,
    redis_namespace: tuple[str, str],
    replay_tape: Path,
    fleets: Callable[..., WorkerFleet],
) -> None:
    redis_url, prefix = redis_namespace
    postgres_url = throwaway_postgres.url
    tape = build_tape(replay_tape, tmp_path / "tape.jsonl", valid=VALID_EVENTS, invalid=INVALID_EVENTS)
    # A maintenance window: every failed attempt is one more delivery; allow enough of them to outlast it.
    env = aegis_env(
        postgres_url=postgres_url, redis_url=redis_url, prefix=prefix, data_dir=tmp_path / "data", max_deliveries=20
    )
    cwd = tmp_path / "run"
    bus = BusProbe(redis_url, prefix)
    fleet = fleets(env, cwd, until_idle=False)
    try:
        await run_aegis(["migrate"], env, cwd)
        await run_aegis(["feed", str(tape.path)], env, cwd)
        for name in WORKERS:
            fleet.start(name)
        await wait_until(lambda: _decided_at_least(postgres_url, 0.25 * tape.published), 90, "a quarter decided", fleet)
        await asyncio.to_thread(throwaway_postgres.stop)
        stopped_at = datetime.now(UTC)
        await asyncio.sleep(1.0)  # sessions in flight at the stop fail now
        samples = [await bus.state()]
        while (datetime.now(UTC) - stopped_at).total_seconds() < DOWN_S:
            await asyncio.sleep(0.5)
            samples.append(await bus.state())
        restarted_at = datetime.now(UTC)
        await asyncio.to_thread(throwaway_postgres.start)
        after = await _run_to_the_end(fleet, bus, postgres_url, tape)
    finally:
        await bus.close()
        fleet.close()

    assert not fleet.crashed(), fleet.tails()
    # while PostgreSQL was down: nothing acknowledged (nothing left the stream), nothing dead-lettered,
    # the workers kept taking events and left them pending
    assert {s.unacked for s in samples} == {samples[0].unacked}, [s.unacked for s in samples]
    assert all(s.dead_ids == samples[0].dead_ids for s in samples)
    assert samples[0].pending > 0
    assert all(a.pending <= b.pending for a, b in itertools.pairwise(samples)), samples
    # ... and no decision was written then
    async with await psycopg.AsyncConnection.connect(postgres_url) as db:
        cursor = await db.execute(
            f"SELECT count(*) {TAPE_DECISIONS} AND decided_at > %s AND decided_at < %s",
            (stopped_at.isoformat(timespec="microseconds"), restarted_at.isoformat(timespec="microseconds")),
        )
        written_while_down = await cursor.fetchone()
    assert written_while_down == (0,)
    left_pending = sum(run.log.read_text().count("not decided, left pending") for run in fleet.runs)
    assert left_pending > 0, "no session failed while PostgreSQL was down"
    await _check_exactly_once(postgres_url, tape, after)
    print(
        f"\npostgres stop: {left_pending} sessions failed and stayed pending; pending during the stop "
        f"{[s.pending for s in samples]}"
    )
