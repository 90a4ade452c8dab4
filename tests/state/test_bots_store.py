"""The bots' durable records on both engines, and the bot control that is their one writer.

Each store test runs on a fresh SQLite file and on a fresh PostgreSQL schema (the `engine` and `store`
fixtures of `test_store_contract`: skipped with the reason without a server, failed when
AEGIS_REQUIRE_SERVICES=1): the registry in registration order, the allocation cap checked whole, the audit
entry in the same transaction, the day-start marks (first write wins), and the bot of positions and fills.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, timedelta

import pytest

from state.bots import DEFAULT_BOT_ID, Bot, BotBook, BotDay, BotState
from state.clock import SimulatedClock
from state.context_loader import BOTS_KEY
from state.hot import InMemoryHotStore
from state.orders import Fill, FillReason, OrderStatus, Position, Side
from state.store.base import AuditEntry, InvalidRecordError, StoreError
from state.tiered_hot import TieredHot
from tests.state import test_store_contract as contract
from tests.state.test_chain_store import UNDO_CORRELATION
from tests.state.test_store_contract import T0, Engine, Store, at, fill, order, position
from tools.ops.bots import BotControl, UnknownBotError

# The contract's fixtures: every test that asks for `engine` or `store` runs on SQLite and on PostgreSQL.
engine = contract.engine
store = contract.store

DAY = date(2017, 3, 1)


def bot(bot_id: str, allocation: float, *, strategy: str = "screen", universe: tuple[str, ...] = ()) -> Bot:
    return Bot(bot_id=bot_id, strategy=strategy, universe=universe, allocation=allocation, since=T0)


def registered(*bots: Bot) -> AuditEntry:
    return AuditEntry("operator", "bots_registered", {"bots": [b.bot_id for b in bots]})


def mark(bot_id: str, day: int, pnl: float, sleeve: float = 25_000.0) -> BotDay:
    return BotDay(bot_id=bot_id, day=DAY + timedelta(days=day), pnl=pnl, sleeve=sleeve, allocation=0.25)


# ---- the registry -----------------------------------------------------------------------------------


async def test_saved_bots_come_back_whole_in_registration_order(store: Store) -> None:
    assert await store.bots() == []
    growth = bot("growth", 0.3, strategy="growth", universe=("AAPL", "MSFT"))
    value = bot("Value", 0.3, strategy="value", universe=("KO",))
    await store.save_bots([growth, value], registered(growth, value), at(0))
    screen = bot("0-screen", 0.4)  # sorts first by id, registered last
    await store.save_bots([screen], registered(screen), at(1))
    assert await store.bots() == [growth, value, screen]


async def test_replacing_a_bot_keeps_its_place_in_the_registration_order(engine: Engine, store: Store) -> None:
    a, b, c = bot("a", 0.2), bot("b", 0.2), bot("c", 0.2)
    await store.save_bots([a, b, c], registered(a, b, c), at(0))
    stopped = b.model_copy(update={"state": BotState.STOPPED, "reason": "drawdown", "since": at(1)})
    grown = c.model_copy(update={"allocation": 0.5})
    d = bot("d", 0.1)
    await store.save_bots([grown, d, stopped], registered(grown, d, stopped), at(1))
    assert await store.bots() == [a, stopped, grown, d]
    assert await engine.query("SELECT bot_id, seq FROM bots ORDER BY seq") == [("a", 1), ("b", 2), ("c", 3), ("d", 4)]


async def test_allocations_of_a_whole_registry_summing_to_one_are_accepted(store: Store) -> None:
    bots = [bot("a", 0.3), bot("b", 0.3), bot("c", 0.4)]  # 0.3 + 0.3 + 0.4 is 1.0000000000000002 in floats
    await store.save_bots(bots, registered(*bots), at(0))
    assert [b.allocation for b in await store.bots()] == [0.3, 0.3, 0.4]


async def test_an_allocation_past_100_percent_is_refused_and_writes_nothing(store: Store) -> None:
    a, b = bot("a", 0.6), bot("b", 0.3)
    await store.save_bots([a, b], registered(a, b), at(0))
    before = await store.audit_log()
    c = bot("c", 0.2)  # the registry would hold 110 %
    with pytest.raises(InvalidRecordError, match=r"110\.00%"):
        await store.save_bots([c], registered(c), at(1))
    grown = a.model_copy(update={"allocation": 0.75})  # a replacement is measured with the others: 105 %
    with pytest.raises(InvalidRecordError, match=r"105\.00%"):
        await store.save_bots([grown, bot("d", 0.0)], registered(grown), at(2))
    assert await store.bots() == [a, b]
    assert await store.audit_log() == before


async def test_a_refused_first_registration_leaves_no_bot_and_no_audit_entry(store: Store) -> None:
    bots = [bot("a", 0.7), bot("b", 0.31)]
    with pytest.raises(InvalidRecordError):
        await store.save_bots(bots, registered(*bots), at(0))
    assert await store.bots() == []
    assert await store.audit_log() == []


async def test_two_processes_registering_at_once_cannot_pass_100_percent_together(engine: Engine) -> None:
    async with engine.make() as first, engine.make() as second:  # two pools: two processes' worth
        results = await asyncio.gather(
            *(
                writer.save_bots([bot(f"b{n}", 0.3)], registered(bot(f"b{n}", 0.3)), at(n))
                for n, writer in enumerate([first, second] * 3)
            ),
            return_exceptions=True,
        )
        kept = await first.bots()
        audit = await first.audit_log()
    refused = [r for r in results if r is not None]
    assert len(refused) == 3 and all(isinstance(r, InvalidRecordError) for r in refused), refused
    assert len(kept) == 3 and sum(b.allocation for b in kept) == pytest.approx(0.9)
    assert sorted(e["detail"]["bots"][0] for e in audit) == sorted(b.bot_id for b in kept)


async def test_the_audit_entry_is_written_with_the_bots(store: Store) -> None:
    a = bot("a", 0.5)
    await store.save_bots([a], AuditEntry("operator", "bots_registered", {"reason": "launch"}), at(3))
    [entry] = await store.audit_log()
    assert (entry["at"], entry["actor"], entry["action"], entry["detail"]) == (
        at(3),
        "operator",
        "bots_registered",
        {"reason": "launch"},
    )


async def test_a_failed_audit_insert_rolls_the_bots_back(engine: Engine, store: Store) -> None:
    a = bot("a", 0.5)
    await store.save_bots([a], registered(a), at(0))
    await refuse_audit_inserts(engine)
    grown, b = a.model_copy(update={"allocation": 0.6}), bot("b", 0.2)
    with pytest.raises(StoreError):
        await store.save_bots([grown, b], registered(grown, b), at(1))
    assert await store.bots() == [a]
    assert len(await store.audit_log()) == 1


async def refuse_audit_inserts(engine: Engine) -> None:
    """A trigger that fails every insert into the audit log: the audit is the last statement of a write."""
    if engine.name == "sqlite":
        await engine.query(
            "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'audit refused'); END"
        )
        return
    await engine.query(
        "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'audit refused'; END $$"
    )
    await engine.query(
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse_audit()"
    )


# ---- the day-start marks ----------------------------------------------------------------------------


async def test_the_first_mark_of_a_bot_and_day_wins(store: Store) -> None:
    await store.record_bot_days([mark("a", 0, 0.0), mark("b", 0, 0.0)], at(0))
    await store.record_bot_days([mark("a", 0, -512.5), mark("a", 1, 130.25)], at(1))
    await store.record_bot_days([mark("b", 1, 7.0), mark("b", 1, 9.0)], at(2))  # within one call too
    assert await store.bot_days() == [mark("a", 0, 0.0), mark("b", 0, 0.0), mark("a", 1, 130.25), mark("b", 1, 7.0)]


async def test_bot_days_are_by_day_then_bot_id_in_byte_order_from_since_on(store: Store) -> None:
    marks = [mark(b, d, float(10 * d)) for d in (2, 0, 1) for b in ("beta", "Beta", "alpha", "9x")]
    await store.record_bot_days(marks, at(0))
    expected = [mark(b, d, float(10 * d)) for d in (0, 1, 2) for b in ("9x", "Beta", "alpha", "beta")]
    assert await store.bot_days() == expected
    assert await store.bot_days(since=DAY + timedelta(days=1)) == expected[4:]  # `since` is included
    assert await store.bot_days(since=DAY + timedelta(days=3)) == []


async def test_a_non_finite_mark_is_refused_and_the_call_writes_nothing(store: Store) -> None:
    unchecked = BotDay.model_construct(bot_id="b", day=DAY, pnl=float("nan"), sleeve=1.0, allocation=0.25)
    with pytest.raises(InvalidRecordError):
        await store.record_bot_days([mark("a", 0, 0.0), unchecked], at(0))
    assert await store.bot_days() == []


# ---- the bot of positions and fills -----------------------------------------------------------------


def bot_fill(fill_id: str, bot_id: str, symbol: str, quantity: float, price: float) -> Fill:
    return Fill(fill_id=fill_id, order_id="ord-e1", event_id="e1", symbol=symbol, side=Side.BUY, quantity=quantity,
                price=price, fee=0.1, reason=FillReason.ENTRY, time=T0, bot_id=bot_id)  # fmt: skip


def held(symbol: str, quantity: float, avg_price: float, bot_id: str) -> Position:
    return Position(symbol=symbol, quantity=quantity, avg_price=avg_price, opened_at=T0,
                    opened_by_event=f"open-{symbol}", bot_id=bot_id)  # fmt: skip


async def test_positions_and_fills_keep_their_bot(store: Store) -> None:
    await store.save_order(order("e1"))
    book = [held("AAPL", 10.0, 139.34, "tech"), held("JPM", 25.0, 91.2, "banks"), held("KO", 3.0, 41.5, "default")]
    first = bot_fill("f1", "tech", "AAPL", 10.0, 139.34)
    assert await store.book_fill(first, order("e1", OrderStatus.FILLED), book, 50_000.0, at(1))
    await store.save_fill(bot_fill("f2", "banks", "JPM", 25.0, 91.2))
    assert [(p.symbol, p.bot_id) for p in await store.positions()] == [
        ("AAPL", "tech"),
        ("JPM", "banks"),
        ("KO", "default"),
    ]
    assert (await store.account_book()).positions == tuple(book)
    assert [(f.fill_id, f.bot_id) for f in await store.fills()] == [("f1", "tech"), ("f2", "banks")]
    assert (await store.fills())[0] == first


async def test_replace_positions_keeps_each_position_s_bot(store: Store) -> None:
    await store.replace_positions([held("XOM", 4.0, 81.0, "energy"), held("AAPL", 1.0, 139.0, "tech")])
    await store.replace_positions([held("XOM", 4.0, 81.0, "energy-2")])
    assert await store.positions() == [held("XOM", 4.0, 81.0, "energy-2")]


async def test_rows_written_before_bots_existed_belong_to_the_default_bot(engine: Engine) -> None:
    await engine.migrate()
    for statement in (  # back to schema version 4, as a database written before bots existed
        *UNDO_CORRELATION,
        "DROP TABLE rule_versions",
        "DROP TABLE rules",
        "DELETE FROM schema_migrations WHERE version = 6",
        "DROP TABLE bot_days",
        "DROP TABLE bots",
        "ALTER TABLE positions DROP COLUMN bot_id",
        "ALTER TABLE fills DROP COLUMN bot_id",
        "DELETE FROM schema_migrations WHERE version = 5",
    ):
        await engine.query(statement)
    await engine.query(
        "INSERT INTO positions (symbol, quantity, avg_price, stop_loss_price, take_profit_price, opened_at, "
        "opened_by_event) VALUES ('AAPL', 10.0, 100.05, 95.0, 110.0, '2017-03-01T21:00:00.000000+00:00', 'e1')"
    )
    await engine.query(
        "INSERT INTO fills (fill_id, seq, order_id, event_id, symbol, side, quantity, price, fee, reason, "
        "filled_at) VALUES ('fill-e1-entry', 1, 'ord-e1', 'e1', 'AAPL', 'buy', 10.0, 100.05, 0.1, 'entry', "
        "'2017-03-01T21:00:00.000000+00:00')"
    )
    assert await engine.migrate() == [5, 6, 7]
    async with engine.make() as opened:
        assert await opened.positions() == [position()]
        assert (await opened.account_book()).positions == (position(),)
        assert await opened.fills() == [fill()]
        assert {p.bot_id for p in await opened.positions()} == {DEFAULT_BOT_ID}
        assert {f.bot_id for f in await opened.fills()} == {DEFAULT_BOT_ID}


# ---- the bot control --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Control:
    bots: BotControl
    store: Store
    hot: InMemoryHotStore
    clock: SimulatedClock

    async def mirrored(self) -> BotBook:
        """The registry as sessions read it: the hot store's copy (not the durable fallback)."""
        return BotBook.model_validate(await self.hot.get_value(BOTS_KEY))

    async def actions(self) -> list[str]:
        return [entry["action"] for entry in reversed(await self.store.audit_log())]


@pytest.fixture
def control(store: Store) -> Control:
    clock = SimulatedClock(T0)
    hot = InMemoryHotStore(clock)
    return Control(BotControl(store, TieredHot(hot, clock, mirror=store), clock), store, hot, clock)


async def register_three(control: Control) -> None:
    await control.bots.register([bot("tech", 0.3), bot("banks", 0.3), bot("energy", 0.2)], actor="ops", reason="launch")


async def test_register_stamps_who_why_and_when_and_mirrors_the_registry(control: Control) -> None:
    control.clock.advance(timedelta(hours=1))
    await register_three(control)
    stored = await control.store.bots()
    assert [(b.bot_id, b.actor, b.reason, b.since) for b in stored] == [
        (i, "ops", "launch", T0 + timedelta(hours=1)) for i in ("tech", "banks", "energy")
    ]
    assert (await control.mirrored()).bots == tuple(stored)
    assert await control.actions() == ["bots_registered"]
    with pytest.raises(ValueError, match="actor and a reason"):
        await control.bots.register([bot("x", 0.1)], actor="ops", reason=" ")
    assert len(await control.store.bots()) == 3


async def test_stop_and_resume_are_idempotent(control: Control) -> None:
    await register_three(control)
    control.clock.advance(timedelta(minutes=5))
    stopped = await control.bots.stop("banks", actor="breaker", reason="daily loss 10.2 %")
    again = await control.bots.stop("banks", actor="operator", reason="double click")
    assert again == stopped  # the first stop's who and why stand
    assert (stopped.state, stopped.actor, stopped.reason, stopped.since) == (
        BotState.STOPPED,
        "breaker",
        "daily loss 10.2 %",
        T0 + timedelta(minutes=5),
    )
    assert await control.actions() == ["bots_registered", "bot_stopped"]
    assert (await control.mirrored()).bots == tuple(await control.store.bots())
    assert (await control.mirrored()).refusal("banks", T0) is not None

    resumed = await control.bots.resume("banks", actor="operator", reason="checked")
    assert await control.bots.resume("banks", actor="operator", reason="again") == resumed
    assert resumed.running and resumed.stopped_until is None
    assert await control.actions() == ["bots_registered", "bot_stopped", "bot_running"]
    assert (await control.mirrored()).bots == tuple(await control.store.bots())
    assert (await control.mirrored()).refusal("banks", T0) is None


async def test_stop_of_an_unknown_bot_is_refused(control: Control) -> None:
    await register_three(control)
    with pytest.raises(UnknownBotError, match="'ghost'"):
        await control.bots.stop("ghost", actor="operator", reason="typo")
    assert await control.actions() == ["bots_registered"]


async def test_a_stop_with_an_end_is_lifted_by_resume_due_once_it_has_come(control: Control) -> None:
    await register_three(control)
    until = T0 + timedelta(days=1)
    stopped = await control.bots.stop("tech", actor="breaker", reason="daily loss", until=until)
    await control.bots.stop("energy", actor="operator", reason="no end")
    assert stopped.stopped_until == until
    [entry] = [e for e in await control.store.audit_log() if e["detail"].get("bot_id") == "tech"]
    assert entry["detail"]["until"] == until.isoformat()

    assert await control.bots.resume_due(until - timedelta(seconds=1)) == []
    control.clock.set(until)
    [resumed] = await control.bots.resume_due(until)
    assert (resumed.bot_id, resumed.state, resumed.actor) == ("tech", BotState.RUNNING, "scheduler")
    states = {b.bot_id: b.state for b in await control.store.bots()}
    assert states == {"tech": BotState.RUNNING, "banks": BotState.RUNNING, "energy": BotState.STOPPED}
    assert {b.bot_id: b.state for b in (await control.mirrored()).bots} == states
    assert await control.bots.resume_due(until + timedelta(days=30)) == []  # energy waits for an operator


async def test_set_allocations_applies_to_every_named_bot_with_before_and_after(control: Control) -> None:
    await register_three(control)
    await control.bots.set_allocations({"tech": 0.4, "energy": 0.1}, actor="rebalance", reason="weekly")
    assert {b.bot_id: b.allocation for b in await control.store.bots()} == {"tech": 0.4, "banks": 0.3, "energy": 0.1}
    assert {b.bot_id: b.allocation for b in (await control.mirrored()).bots} == {
        "tech": 0.4,
        "banks": 0.3,
        "energy": 0.1,
    }
    entry = (await control.store.audit_log())[0]
    assert (entry["actor"], entry["action"]) == ("rebalance", "allocation_applied")
    assert entry["detail"] == {
        "reason": "weekly",
        "before": {"tech": 0.3, "energy": 0.2},
        "after": {"tech": 0.4, "energy": 0.1},
    }


@pytest.mark.parametrize(
    ("allocations", "error"),
    [
        ({"tech": 0.35, "ghost": 0.1}, UnknownBotError),  # one unknown bot: the known one is not changed either
        ({"tech": 0.35, "banks": 0.5}, InvalidRecordError),  # 105 %
    ],
)
async def test_set_allocations_is_all_or_none(
    control: Control, allocations: dict[str, float], error: type[Exception]
) -> None:
    await register_three(control)
    before, mirror = await control.store.bots(), await control.mirrored()
    with pytest.raises(error):
        await control.bots.set_allocations(allocations, actor="rebalance", reason="weekly")
    assert await control.store.bots() == before
    assert await control.mirrored() == mirror
    assert await control.actions() == ["bots_registered"]


async def test_an_operators_stop_without_an_end_outlasts_the_breakers_next_day_stop(control: Control) -> None:
    await register_three(control)
    until = T0 + timedelta(days=1)
    await control.bots.stop("tech", actor="circuit_breaker", reason="daily loss", until=until)
    held = await control.bots.stop("tech", actor="ana", reason="investigating the loss")
    assert (held.actor, held.reason, held.stopped_until) == ("ana", "investigating the loss", None)
    assert await control.bots.resume_due(until + timedelta(days=1)) == []  # only an operator resumes it now
    again = await control.bots.stop("tech", actor="bob", reason="a second stop", until=until)
    assert again.actor == "ana"  # a stop with an end never shortens one without
