"""Workers killed with SIGKILL mid-run, again and again: nothing is lost, nothing is decided or ordered twice.

The deployment as it runs in production, on the machine's PostgreSQL (a fresh database) and Redis (a key
prefix of this test's own): `aegis migrate`, `aegis feed` of a tape of real bundled data, then three
`aegis worker --until-idle` processes. One worker slot is killed (no drain, no goodbye) while it holds
events in flight and started again at once, four times; the others claim what it held once that has been
idle for AEGIS_BUS_CLAIM_IDLE_MS. While the new process starts the others are paused (SIGSTOP), so that each
process killed holds events it took itself (a slow worker's start would otherwise find the tape finished);
the events the paused ones hold may be claimed meanwhile, which must not decide or order anything twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.system.fleet import WorkerFleet, aegis_env, run_aegis, wait_until
from tests.system.records import BusProbe, decided, records
from tests.system.tapes import build_tape

pytestmark = [pytest.mark.slow, pytest.mark.services]

VALID_EVENTS = 2_000
INVALID_EVENTS = 10
WORKERS = ("w0", "w1", "w2")
VICTIM = "w0"
KILL_AT = (0.10, 0.25, 0.40, 0.55)  # share of the events decided when the victim is killed


async def test_workers_killed_mid_run_lose_nothing_and_duplicate_nothing(
    tmp_path: Path,
    postgres_url: str,
    redis_namespace: tuple[str, str],
    replay_tape: Path,
    fleets: Callable[..., WorkerFleet],
) -> None:
    redis_url, prefix = redis_namespace
    tape = build_tape(replay_tape, tmp_path / "tape.jsonl", valid=VALID_EVENTS, invalid=INVALID_EVENTS)
    assert len(tape.valid_ids) == VALID_EVENTS and len(tape.invalid_ids) == INVALID_EVENTS
    env = aegis_env(postgres_url=postgres_url, redis_url=redis_url, prefix=prefix, data_dir=tmp_path / "data")
    cwd = tmp_path / "run"
    await run_aegis(["migrate"], env, cwd)
    fed = await run_aegis(["feed", str(tape.path)], env, cwd)
    assert f"fed {tape.ticks} ticks; published {tape.published} events" in fed

    bus = BusProbe(redis_url, prefix)
    fleet = fleets(env, cwd, until_idle=True)
    held_at_kill: list[int] = []
    held_before: set[str] = set()
    try:
        for name in WORKERS:
            fleet.start(name)
        for share in KILL_AT:
            await wait_until(
                lambda share=share: _decided_at_least(postgres_url, share * tape.published),  # type: ignore[misc]
                timeout_s=180,
                what=f"{share:.0%} of the events decided",
                fleet=fleet,
            )
            # entries delivered to this process, not those its killed predecessor (same consumer name) left
            await _until_holding(bus, fleet, held_before)
            held = await bus.pending_of(VICTIM)
            held_at_kill.append(len(held - held_before))
            held_before = held
            fleet.kill(VICTIM)
            # The others are paused (SIGSTOP) while the new process starts, so that it takes events of its own
            # before they finish the tape; entries they hold meanwhile may be claimed by it: once each.
            with fleet.paused([name for name in WORKERS if name != VICTIM]):
                fleet.start(VICTIM)
                await _until_holding(bus, fleet, held_before)
        await fleet.wait(timeout_s=120)
        after = await bus.state()
    finally:
        await bus.close()
    found = await records(postgres_url)

    print(
        f"\ncrash run: {tape.published} events published ({tape.replay_signals} replay signals, "
        f"{tape.extra_signals} extra signals on real bars, {len(tape.invalid_ids)} invalid), {tape.ticks} ticks; "
        f"{len(held_at_kill)} kills of {VICTIM}, holding {held_at_kill} events; "
        f"{len(found.outcomes)} decisions {dict(Counter(found.outcomes.values()))}; "
        f"{len(found.order_event_ids)} orders; {len(after.dead_ids)} dead letters"
    )
    assert not fleet.crashed(), fleet.tails()
    assert len(held_at_kill) == len(KILL_AT) and all(held > 0 for held in held_at_kill)
    # every valid event decided exactly once (event_id is the decisions table's primary key)
    assert set(found.outcomes) == tape.valid_ids | tape.invalid_ids
    assert found.with_outcome("rejected") == tape.invalid_ids
    # the roles were asked and orders placed (a run whose events all stop at the pre-screen would prove nothing)
    assert len(found.with_outcome("ordered")) >= 10, Counter(found.outcomes.values())
    # no order twice: one order per event, and an order exactly for each "ordered" decision
    assert len(found.order_event_ids) == len(set(found.order_event_ids))
    assert set(found.order_event_ids) == found.with_outcome("ordered")
    # nothing lost on the bus: nothing pending or unacked, and the dead letters are exactly the invalid events
    assert (after.pending, after.unacked) == (0, 0)
    assert sorted(after.dead_ids) == sorted(tape.invalid_ids)


async def _decided_at_least(postgres_url: str, count: float) -> bool:
    return await decided(postgres_url) >= count


async def _until_holding(bus: BusProbe, fleet: WorkerFleet, before: set[str]) -> None:
    """Until the victim holds entries that are not among `before` (delivered to the process running now)."""

    async def holds_new_events() -> bool:
        return bool(await bus.pending_of(VICTIM) - before)

    await wait_until(holds_new_events, timeout_s=120, what=f"{VICTIM} to hold events", fleet=fleet)
