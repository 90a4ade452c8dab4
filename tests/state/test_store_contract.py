"""The durable store contract: every `DurableStore` keeps the same promises, on SQLite and on PostgreSQL.

Each test runs twice: on a fresh SQLite file, and on a fresh PostgreSQL schema in database `test` on
127.0.0.1:5432 (dropped afterwards). The PostgreSQL cases skip with the reason when the server is not
reachable, or fail when AEGIS_REQUIRE_SERVICES=1. Set AEGIS_TEST_POSTGRES_URL to use another server.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from state.clock import SimulatedClock
from state.decisions import DecisionRecord, Outcome
from state.events import Bar, FieldError
from state.orders import Fill, FillReason, Order, OrderRequest, OrderStatus, OrderType, Position, Side
from state.store.base import (
    AuditEntry,
    CorruptRecordError,
    DurableStore,
    Finished,
    InvalidRecordError,
    ListAppend,
    RecordNotFoundError,
    SessionEnd,
    StoreClosedError,
    StoreConflictError,
)
from state.store.factory import migrate, open_store
from state.store.postgres import PostgresStore
from state.store.sqlite import SqliteStore
from tests.services import require_service

T0 = datetime(2017, 3, 1, 21, 0, tzinfo=UTC)
POSTGRES_URL_ENV = "AEGIS_TEST_POSTGRES_URL"
POSTGRES_URLS = (
    "postgresql://postgres@127.0.0.1:5432/test",
    "postgresql://root@127.0.0.1:5432/test",
)

Store = SqliteStore | PostgresStore


# ---- reaching PostgreSQL (also used by the PostgreSQL-only test modules) --------------------------


async def find_postgres() -> tuple[str | None, str]:
    """The first URL that accepts a connection, or None and why none did."""
    candidates = [os.environ[POSTGRES_URL_ENV]] if os.environ.get(POSTGRES_URL_ENV) else list(POSTGRES_URLS)
    reasons = []
    for url in candidates:
        try:
            conn = await psycopg.AsyncConnection.connect(url, connect_timeout=3)
        except psycopg.Error as exc:
            reasons.append(f"{url}: {str(exc).strip()}")
        else:
            await conn.close()
            return url, ""
    return None, "; ".join(reasons)


async def require_postgres() -> str:
    url, why = await find_postgres()
    require_service("PostgreSQL", url is not None, why)
    assert url is not None
    return url


def fresh_schema() -> str:
    return f"aegis_test_{uuid.uuid4().hex[:12]}"


async def drop_schema(url: str, schema: str) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


async def pg_query(url: str, schema: str, statement: str) -> list[tuple[Any, ...]]:
    """Run one statement in `schema` on a connection of its own; the rows it returns, if any."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        cursor = await conn.execute(statement)
        return [tuple(row) for row in await cursor.fetchall()] if cursor.description else []


# ---- the engines ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Engine:
    """One store engine on a database of its own."""

    name: str
    make: Callable[[], Store]  # a new, unopened store on this database
    query: Callable[[str], Awaitable[list[tuple[Any, ...]]]]  # raw SQL, for what the protocol cannot show
    migrate: Callable[[], Awaitable[list[int]]]  # `factory.migrate` on this database
    open: Callable[[], Awaitable[DurableStore]]  # `factory.open_store` on this database


def _sqlite_query(path: Path, statement: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:  # a second, plain connection: WAL lets it read while the store is open
        return conn.execute(statement).fetchall()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Engine]:
    clock = SimulatedClock(T0)
    if request.param == "sqlite":
        path = tmp_path / "aegis.db"
        yield Engine(
            name="sqlite",
            make=lambda: SqliteStore(path, clock=clock),
            query=lambda statement: asyncio.to_thread(_sqlite_query, path, statement),
            migrate=lambda: migrate(path, clock=clock),
            open=lambda: open_store(None, path, clock),
        )
        return
    url = await require_postgres()
    schema = fresh_schema()
    try:
        yield Engine(
            name="postgres",
            make=lambda: PostgresStore(url, schema=schema, clock=clock, max_size=4),
            query=lambda statement: pg_query(url, schema, statement),
            migrate=lambda: migrate(url, schema=schema, clock=clock),
            open=lambda: open_store(url, tmp_path / "unused.db", clock, schema=schema),
        )
    finally:
        await drop_schema(url, schema)


@pytest.fixture
async def store(engine: Engine) -> AsyncIterator[Store]:
    async with engine.make() as opened:
        yield opened


# ---- records ---------------------------------------------------------------------------------------


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def request(event_id: str = "e1", quantity: float = 10.0, symbol: str = "AAPL") -> OrderRequest:
    return OrderRequest(
        event_id=event_id,
        symbol=symbol,
        side=Side.BUY,
        quantity=quantity,
        order_type=OrderType.MARKET,
        stop_loss_price=95.0,
        take_profit_price=110.0,
        created_at=T0,
    )


def order(event_id: str = "e1", status: OrderStatus = OrderStatus.PENDING, quantity: float = 10.0) -> Order:
    return Order(order_id=f"ord-{event_id}", request=request(event_id, quantity), status=status, updated_at=T0)


def fill(fill_id: str = "fill-e1-entry", event_id: str = "e1", minutes: int = 0) -> Fill:
    return Fill(
        fill_id=fill_id,
        order_id=f"ord-{event_id}",
        event_id=event_id,
        symbol="AAPL",
        side=Side.BUY,
        quantity=10.0,
        price=100.05,
        fee=0.1,
        reason=FillReason.ENTRY,
        time=at(minutes),
    )


def position(symbol: str = "AAPL", quantity: float = 10.0) -> Position:
    return Position(
        symbol=symbol,
        quantity=quantity,
        avg_price=100.05,
        stop_loss_price=95.0,
        take_profit_price=110.0,
        opened_at=T0,
        opened_by_event="e1",
    )


def decision(event_id: str = "e1", minutes: int = 0, outcome: Outcome = Outcome.HOLD) -> DecisionRecord:
    return DecisionRecord(
        event_id=event_id,
        event_type="SIGNAL_GENERATED",
        symbol="AAPL",
        outcome=outcome,
        reason="analyst saw no edge",
        decided_at=at(minutes),
        analysis={"direction": "flat", "confidence": 0.4},
    )


def test_both_stores_satisfy_the_durable_store_protocol(tmp_path: Path) -> None:
    stores: list[DurableStore] = [SqliteStore(tmp_path / "aegis.db"), PostgresStore("postgresql://unused/x")]
    assert len(stores) == 2


# ---- opening, migrations ------------------------------------------------------------------------


async def test_open_records_the_applied_migration(engine: Engine, store: Store) -> None:
    applied = [(v, n) for v, n, _ in await engine.query("SELECT * FROM schema_migrations ORDER BY version")]
    assert applied == [
        (1, "init"),
        (2, "market_snapshot"),
        (3, "capital_protection"),
        (4, "event_conflicts"),
        (5, "bots"),
        (6, "rules"),
        (7, "correlation"),
        (8, "approvals"),
        (9, "orders_recent"),
        (10, "risk_limits"),
        (11, "api_keys"),
        (12, "record_chain"),
    ]


async def test_migrations_applied_twice_are_a_no_op_and_keep_the_data(engine: Engine) -> None:
    async with engine.make() as store:
        await store.set_counter("session_failures", 2)
    async with engine.make() as store:
        assert await store.get_counter("session_failures") == 2
    assert len(await engine.query("SELECT version FROM schema_migrations")) == 12


async def test_migrate_applies_each_version_once_without_opening_a_store(engine: Engine) -> None:
    assert await engine.migrate() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    assert await engine.migrate() == []
    async with engine.make() as store:
        assert await store.cash() is None
    assert await engine.migrate() == []


async def test_open_store_opens_a_migrated_store_of_the_chosen_engine(engine: Engine) -> None:
    store = await engine.open()
    try:
        assert type(store).__name__.lower().startswith(engine.name)
        await store.set_counter("x", 7)
        assert await store.get_counter("x") == 7
    finally:
        await store.close()


# ---- the durable copy of the market context -----------------------------------------------------


def _bar(day: int, close: float) -> Bar:
    at = T0 + timedelta(days=day)
    return Bar(time=at, open=close, high=close + 1, low=close - 1, close=close, volume=1000.0)


async def test_recent_bars_are_the_newest_oldest_first_and_redeliveries_are_ignored(store: Store) -> None:
    for day in range(5):
        await store.save_bar("AAPL", _bar(day, 100.0 + day))
    await store.save_bar("AAPL", _bar(4, 999.0))  # a redelivery of the same bar changes nothing
    await store.save_bar("MSFT", _bar(0, 50.0))
    bars = await store.recent_bars("AAPL", 3)
    assert [b.close for b in bars] == [102.0, 103.0, 104.0]
    assert await store.recent_bars("NOPE", 3) == []
    assert await store.recent_bars("AAPL", 0) == []


async def test_hot_values_keep_the_latest_value_and_its_time(store: Store) -> None:
    assert await store.get_value("market:vix") is None
    await store.put_value("market:vix", 14.5, T0)
    await store.put_value("market:vix", {"level": 31.2}, T0 + timedelta(minutes=1))
    assert await store.get_value("market:vix") == ({"level": 31.2}, T0 + timedelta(minutes=1))


# ---- events -------------------------------------------------------------------------------------


async def test_record_event_keeps_the_first_arrival_of_an_event_id(engine: Engine, store: Store) -> None:
    await store.record_event("e1", "NEWS", T0, {"id": "e1", "headline": "first"})
    await store.record_event("e1", "NEWS", at(1), {"id": "e1", "headline": "redelivered"})
    await store.record_event("e2", "NEWS", at(2), {"id": "e2"})
    found = await engine.query("SELECT event_id, seq, received_at, raw FROM events ORDER BY seq")
    assert found == [
        ("e1", 1, "2017-03-01T21:00:00.000000+00:00", '{"headline": "first", "id": "e1"}'),
        ("e2", 2, "2017-03-01T21:02:00.000000+00:00", '{"id": "e2"}'),
    ]


async def test_an_invalid_event_is_recorded_even_with_nan_inside(engine: Engine, store: Store) -> None:
    raw = {"id": "bad", "payload": {"price": float("nan")}, "at": T0}
    await store.record_event("bad", "MARKET_TICK", T0, raw)
    [(text,)] = await engine.query("SELECT raw FROM events")
    assert text == '{"at": "2017-03-01T21:00:00+00:00", "id": "bad", "payload": {"price": "nan"}}'


async def test_record_rejection_is_one_dead_letter_per_event_id(store: Store) -> None:
    errors = [FieldError(field="payload.bar.low", message="low must be <= open and close")]
    await store.record_rejection("bad", {"id": "bad"}, errors, T0)
    await store.record_rejection("bad", {"id": "bad"}, errors, at(1))
    await store.record_rejection(None, {"no": "id"}, errors, at(2))
    await store.record_rejection(None, {"no": "id"}, errors, at(3))
    found = await store.rejected_events()
    assert [(r["event_id"], r["rejected_at"]) for r in found] == [(None, at(3)), (None, at(2)), ("bad", T0)]
    assert found[-1]["raw"] == {"id": "bad"}
    assert found[-1]["errors"] == [{"field": "payload.bar.low", "message": "low must be <= open and close"}]
    assert len(await store.rejected_events(limit=1)) == 1
    assert await store.rejected_events(limit=0) == []


async def test_a_redelivery_with_other_content_is_recorded_once_as_a_conflict(store: Store) -> None:
    first = {"id": "e1", "type": "NEWS", "payload": {"headline": "first"}}
    await store.record_event("e1", "NEWS", T0, first)
    assert await store.check_redelivery("e1", dict(reversed(first.items())), at(1)) is None  # same content
    assert await store.check_redelivery("e-unknown", first, at(1)) is None  # nothing recorded under the id
    other = {**first, "payload": {"headline": "other"}}
    conflict = await store.check_redelivery("e1", other, at(2))
    assert conflict is not None and conflict.event_id == "e1" and conflict.detected_at == at(2)
    assert conflict.first_hash != conflict.new_hash
    again = await store.check_redelivery("e1", other, at(3))  # still a conflict, kept once
    assert again is not None and (again.first_hash, again.new_hash) == (conflict.first_hash, conflict.new_hash)
    [kept] = await store.event_conflicts()
    assert kept == {
        "event_id": "e1",
        "first_hash": conflict.first_hash,
        "new_hash": conflict.new_hash,
        "raw": other,
        "detected_at": at(2),
    }
    assert await store.event_conflicts(limit=0) == []


# ---- decisions ----------------------------------------------------------------------------------


async def test_save_decision_inserts_once_and_never_overwrites(store: Store) -> None:
    first = decision("e1", outcome=Outcome.HOLD)
    assert await store.save_decision(first) is True
    assert await store.save_decision(decision("e1", outcome=Outcome.ORDERED)) is False
    assert await store.get_decision("e1") == first
    assert await store.get_decision("unknown") is None


async def test_recent_decisions_are_newest_first_with_insertion_breaking_ties(store: Store) -> None:
    for event_id, minutes in [("a", 0), ("b", 5), ("c", 5), ("d", 2)]:
        await store.save_decision(decision(event_id, minutes))
    assert [d.event_id for d in await store.recent_decisions(10)] == ["c", "b", "d", "a"]
    assert [d.event_id for d in await store.recent_decisions(2)] == ["c", "b"]
    assert await store.recent_decisions(0) == []


async def test_recent_outcomes_follow_the_same_order(store: Store) -> None:
    for event_id, minutes in [("a", 0), ("b", 5), ("c", 5)]:
        await store.save_decision(decision(event_id, minutes, outcome=Outcome.ORDERED))
    outcomes = await store.recent_outcomes(2)
    assert [(o.event_id, o.symbol, o.outcome, o.decided_at) for o in outcomes] == [
        ("c", "AAPL", "ordered", at(5)),
        ("b", "AAPL", "ordered", at(5)),
    ]
    assert await store.recent_outcomes(0) == []


async def test_book_snapshot_reads_what_the_single_reads_read(store: Store) -> None:
    empty = await store.book_snapshot(["failures"], 5)
    assert (empty.positions, empty.cash, empty.counters, empty.recent) == ((), None, {"failures": 0}, ())
    await store.replace_positions([position("MSFT", 3.0), position("AAPL", 10.0)])
    await store.save_cash(12_345.5, at(0))
    await store.set_counter("failures", 2)
    for event_id, minutes in [("a", 0), ("b", 5), ("c", 3)]:
        await store.save_decision(decision(event_id, minutes, outcome=Outcome.ORDERED))
    await store.set_counter("cost", 7)
    snapshot = await store.book_snapshot(["failures", "cost", "never"], 2)
    assert snapshot.positions == tuple(await store.positions())
    assert [p.symbol for p in snapshot.positions] == ["AAPL", "MSFT"]
    assert snapshot.cash == await store.cash() == 12_345.5
    assert snapshot.counters == {"failures": 2, "cost": 7, "never": 0} and await store.get_counter("failures") == 2
    assert snapshot.recent == tuple(await store.recent_outcomes(2))
    assert [o.event_id for o in snapshot.recent] == ["b", "c"]
    assert (await store.book_snapshot([], 0)).recent == ()


async def test_book_snapshot_brings_the_durable_copies_of_the_asked_hot_values(store: Store) -> None:
    await store.put_value("market:vix", 17.5, at(0))
    await store.put_value("book:recent_entry_order_types", ["limit", "market"], at(1))
    await store.put_value("not:asked", 1, at(1))
    snapshot = await store.book_snapshot(["failures"], 1, ["market:vix", "book:recent_entry_order_types", "never"])
    assert snapshot.values == {"market:vix": 17.5, "book:recent_entry_order_types": ["limit", "market"]}
    assert (await store.book_snapshot(["failures"], 1)).values == {}


async def test_a_decision_with_its_order_round_trips(store: Store) -> None:
    record = decision("e1", outcome=Outcome.ORDERED).model_copy(update={"order": order("e1")})
    await store.save_decision(record)
    assert await store.get_decision("e1") == record


# ---- orders and fills ---------------------------------------------------------------------------


async def test_save_order_returns_the_existing_order_for_a_repeated_event(engine: Engine, store: Store) -> None:
    first = await store.save_order(order("e1", quantity=10.0))
    again = await store.save_order(order("e1", quantity=99.0))
    assert again == first
    assert again.request.quantity == 10.0
    assert await engine.query("SELECT COUNT(*) FROM orders") == [(1,)]


async def test_concurrent_saves_of_one_event_make_exactly_one_order(engine: Engine, store: Store) -> None:
    results = await asyncio.gather(*(store.save_order(order("e1", quantity=q)) for q in range(1, 21)))
    assert len({r.request.quantity for r in results}) == 1
    assert await engine.query("SELECT COUNT(*) FROM orders") == [(1,)]


async def test_an_order_id_taken_by_another_event_is_a_conflict(store: Store) -> None:
    await store.save_order(order("e1"))
    intruder = Order(order_id="ord-e1", request=request("e2"), status=OrderStatus.PENDING, updated_at=T0)
    with pytest.raises(StoreConflictError):
        await store.save_order(intruder)


async def test_update_order_changes_status_and_open_orders_sees_only_pending(store: Store) -> None:
    await store.save_order(order("e1"))
    await store.save_order(order("e2"))
    filled = order("e1", status=OrderStatus.FILLED).model_copy(update={"updated_at": at(1)})
    await store.update_order(filled)
    assert await store.get_order_for_event("e1") == filled
    assert [o.event_id for o in await store.open_orders()] == ["e2"]
    assert await store.get_order_for_event("nope") is None


async def test_open_orders_are_oldest_first_then_by_order_id_in_byte_order(store: Store) -> None:
    for event_id in ("b", "B", "a", "_"):
        await store.save_order(order(event_id))
    assert [o.order_id for o in await store.open_orders()] == ["ord-B", "ord-_", "ord-a", "ord-b"]


async def test_update_of_an_unknown_order_is_refused(store: Store) -> None:
    with pytest.raises(RecordNotFoundError):
        await store.update_order(order("ghost"))


async def test_save_fill_ignores_a_repeated_fill_id(store: Store) -> None:
    await store.save_fill(fill("f1", minutes=0))
    await store.save_fill(fill("f1", minutes=9))
    await store.save_fill(fill("f2", minutes=1))
    assert [(f.fill_id, f.time) for f in await store.fills()] == [("f1", at(0)), ("f2", at(1))]
    assert (await store.fills())[0] == fill("f1", minutes=0)


async def test_book_fill_writes_fill_order_book_and_cash_together_once(store: Store) -> None:
    await store.save_order(order("e1"))
    filled = order("e1", status=OrderStatus.FILLED)
    assert await store.book_fill(fill(), filled, [position()], 98_999.4, at(1)) is True
    assert await store.book_fill(fill(), filled, [], 1.0, at(2)) is False
    assert await store.fills() == [fill()]
    assert await store.get_order_for_event("e1") == filled
    assert await store.positions() == [position()]
    assert await store.cash() == 98_999.4


async def test_book_fill_changes_nothing_when_any_part_fails(store: Store) -> None:
    await store.save_cash(100_000.0, T0)
    with pytest.raises(RecordNotFoundError):
        await store.book_fill(fill(), order("never-saved"), [position()], 1.0, at(1))
    assert await store.fills() == []
    assert await store.positions() == []
    assert await store.cash() == 100_000.0


# ---- the book -----------------------------------------------------------------------------------


async def test_replace_positions_swaps_the_whole_book(store: Store) -> None:
    await store.replace_positions([position("AAPL"), position("MSFT")])
    await store.replace_positions([position("MSFT", quantity=3.0)])
    assert await store.positions() == [position("MSFT", quantity=3.0)]
    await store.replace_positions([])
    assert await store.positions() == []


async def test_positions_and_marks_come_back_in_symbol_byte_order(store: Store) -> None:
    await store.replace_positions([position(s) for s in ("brk.b", "BRK.B", "BRKA", "AAPL")])
    assert [p.symbol for p in await store.positions()] == ["AAPL", "BRK.B", "BRKA", "brk.b"]
    for symbol in ("brk.b", "BRKA", "BRK.B"):
        await store.save_mark(symbol, 1.0, T0)
    assert list(await store.marks()) == ["BRK.B", "BRKA", "brk.b"]


async def test_a_book_with_two_positions_in_one_symbol_is_refused(store: Store) -> None:
    await store.replace_positions([position("AAPL")])
    with pytest.raises(InvalidRecordError):
        await store.replace_positions([position("AAPL"), position("AAPL", quantity=1.0)])
    assert await store.positions() == [position("AAPL")]


async def test_cash_is_unknown_until_saved_then_the_last_balance(store: Store) -> None:
    assert await store.cash() is None
    await store.save_cash(100_000.0, T0)
    await store.save_cash(95_000.5, at(1))
    assert await store.cash() == 95_000.5
    with pytest.raises(InvalidRecordError):
        await store.save_cash(float("nan"), at(2))


async def test_marks_keep_the_last_price_per_symbol(store: Store) -> None:
    await store.save_mark("AAPL", 101.0, T0)
    await store.save_mark("AAPL", 102.5, at(1))
    await store.save_mark("MSFT", 60.0, T0)
    assert await store.marks() == {"AAPL": (102.5, at(1)), "MSFT": (60.0, T0)}
    with pytest.raises(InvalidRecordError):
        await store.save_mark("AAPL", float("inf"), at(2))


# ---- posture, audit, counters -------------------------------------------------------------------


async def test_posture_history_is_oldest_first_and_an_unusable_vix_is_unknown(store: Store) -> None:
    await store.record_posture("guerrilla", "VIX 18", 18.0, at(30))
    await store.record_posture("offensive", "VIX 12", 12.0, T0)
    await store.record_posture("defensive", "VIX feed down", float("nan"), at(60))
    assert await store.posture_history() == [
        (T0, "offensive", "VIX 12", 12.0),
        (at(30), "guerrilla", "VIX 18", 18.0),
        (at(60), "defensive", "VIX feed down", None),
    ]


async def test_finish_session_writes_the_decision_and_its_aftermath_together(store: Store) -> None:
    audit = (AuditEntry("session", "decision:hold", {"event_id": "e1"}),)
    end = SessionEnd(streak_counter="failures", failed=True, posture=("defensive", "VIX 31", 31.0), audit=audit)
    assert await store.finish_session(decision("e1"), end, at(1)) == Finished(1, posture_changed=True)
    assert await store.finish_session(decision("e2"), SessionEnd("failures", failed=True), at(2)) == Finished(2, False)
    assert await store.get_counter("failures") == 2
    assert (await store.get_decision("e1")) == decision("e1")
    assert await store.posture_history() == [(at(1), "defensive", "VIX 31", 31.0)]
    assert [(e["actor"], e["action"], e["detail"]) for e in await store.audit_log()] == [
        ("session", "decision:hold", {"event_id": "e1"})
    ]
    assert await store.finish_session(decision("e3"), SessionEnd("failures", failed=False), at(3)) == Finished(0, False)
    assert await store.get_counter("failures") == 0
    assert await store.finish_session(decision("e4"), SessionEnd(), at(4)) == Finished(0, False)  # no streak: untouched


async def test_finish_session_records_the_posture_only_when_it_changes(store: Store) -> None:
    await store.record_posture("guerrilla", "VIX 18", 18.0, at(0))
    postures = [("guerrilla", "VIX 19", 19.0), ("defensive", "VIX 31", 31.0), ("defensive", "VIX 32", 32.0)]
    changed = []
    for n, posture in enumerate(postures, start=1):
        finished = await store.finish_session(decision(f"e{n}", n), SessionEnd(posture=posture), at(n))
        assert finished is not None
        changed.append(finished.posture_changed)
    assert changed == [False, True, False]
    assert await store.posture_history() == [(at(0), "guerrilla", "VIX 18", 18.0), (at(2), "defensive", "VIX 31", 31.0)]


async def test_finish_session_appends_to_a_durable_list_keeping_the_last_items(store: Store) -> None:
    await store.put_value("other", {"not": "a list"}, at(0))
    for n, item in enumerate(["limit", "market", "limit", "market"], start=1):
        appends = (ListAppend("recent", item, keep=3), ListAppend("other", item, keep=1))
        await store.finish_session(decision(f"e{n}", n), SessionEnd(appends=appends), at(n))
    assert await store.get_value("recent") == (["market", "limit", "market"], at(4))
    assert await store.get_value("other") == (["market"], at(4))  # a value that was not a list started afresh
    await store.finish_session(decision("e1"), SessionEnd(appends=(ListAppend("recent", "x", 3),)), at(5))
    assert (await store.get_value("recent") or [None])[0] == ["market", "limit", "market"]  # e1 decided: no append
    with pytest.raises(ValueError, match="keep"):
        ListAppend("recent", "limit", keep=0)


async def test_concurrent_appends_from_two_pools_all_land(engine: Engine) -> None:
    async with engine.make() as first, engine.make() as second:
        appends = (ListAppend("recent", "limit", keep=100),)
        await asyncio.gather(
            *(
                (first if n % 2 else second).finish_session(decision(f"e{n}", n), SessionEnd(appends=appends), at(n))
                for n in range(30)
            )
        )
        held = await first.get_value("recent")
    assert held is not None and held[0] == ["limit"] * 30


async def test_concurrent_writers_take_turns_for_gapless_sequence_numbers(engine: Engine) -> None:
    async with engine.make() as first, engine.make() as second:  # two pools: two processes' worth

        async def session(store: Store, n: int) -> None:
            await store.record_event(f"e{n}", "SIGNAL_GENERATED", at(n), {"id": f"e{n}"})
            audit = (AuditEntry("session", "decided", {"n": n}), AuditEntry("session", "noted", {"n": n}))
            await store.finish_session(decision(f"e{n}", n), SessionEnd("failures", audit=audit), at(n))

        await asyncio.gather(*(session(first if n % 2 else second, n) for n in range(24)))
        await asyncio.gather(*(session(first, n) for n in range(6)))  # redeliveries: nothing more written
    for table, rows in (("events", 24), ("decisions", 24), ("audit_log", 48)):
        seqs = [seq for (seq,) in await engine.query(f"SELECT seq FROM {table} ORDER BY seq")]
        assert seqs == list(range(1, rows + 1)), table
    details = await engine.query("SELECT detail FROM audit_log ORDER BY seq")
    assert [json.loads(d)["n"] for (d,) in details][:2] == [json.loads(details[0][0])["n"]] * 2  # one session's pair


async def test_finish_session_of_an_event_already_decided_writes_nothing(store: Store) -> None:
    await store.save_decision(decision("e1", outcome=Outcome.ORDERED))
    end = SessionEnd("failures", failed=True, posture=("defensive", "r", None), audit=(AuditEntry("a", "b", {}),))
    assert await store.finish_session(decision("e1"), end, at(1)) is None
    assert (await store.get_decision("e1")) == decision("e1", outcome=Outcome.ORDERED)
    assert await store.get_counter("failures") == 0
    assert await store.posture_history() == [] and await store.audit_log() == []


async def test_finish_session_is_all_or_nothing(store: Store) -> None:
    end = SessionEnd("failures", failed=True, posture=("defensive", "VIX 31", 31.0))
    with pytest.raises(InvalidRecordError):  # a naive time is refused after the decision's insert: rolled back
        await store.finish_session(decision("e1"), end, at(1).replace(tzinfo=None))
    assert await store.get_decision("e1") is None
    assert await store.get_counter("failures") == 0


async def test_audit_log_is_newest_first_and_limited(store: Store) -> None:
    for i in range(5):
        await store.audit("operator", "stop_bot", {"bot": f"b{i}", "n": i}, at(i))
    log = await store.audit_log(limit=2)
    assert [entry["detail"] for entry in log] == [{"bot": "b4", "n": 4}, {"bot": "b3", "n": 3}]
    assert (log[0]["seq"], log[0]["at"], log[0]["actor"], log[0]["action"]) == (
        5,
        at(4),
        "operator",
        "stop_bot",
    )
    assert len(await store.audit_log()) == 5
    assert await store.audit_log(limit=0) == []


async def test_counters_start_at_zero_and_keep_the_last_value(store: Store) -> None:
    assert await store.get_counter("consecutive_session_failures") == 0
    await store.set_counter("consecutive_session_failures", 2)
    await store.set_counter("consecutive_session_failures", 3)
    assert await store.get_counter("consecutive_session_failures") == 3
    await store.set_counter("big", 2**63 - 1)
    assert await store.get_counter("big") == 2**63 - 1
    with pytest.raises(InvalidRecordError):
        await store.set_counter("x", True)
    with pytest.raises(InvalidRecordError):
        await store.set_counter("x", 2**63)


async def test_concurrent_additions_to_a_counter_from_two_pools_all_count(engine: Engine) -> None:
    async with engine.make() as first, engine.make() as second:
        totals = await asyncio.gather(*((first if n % 2 else second).add_to_counter("cost", 5) for n in range(40)))
        assert await first.add_to_counter("cost", -1) == 199
        assert await first.get_counter("cost") == 199
        with pytest.raises(InvalidRecordError):
            await first.add_to_counter("cost", True)
    assert sorted(totals) == list(range(5, 201, 5))  # each addition saw the ones before it


# ---- refusals and failures ----------------------------------------------------------------------


async def test_naive_timestamps_are_refused(store: Store) -> None:
    with pytest.raises(InvalidRecordError, match="naive"):
        await store.save_cash(1.0, datetime(2017, 3, 1, 21, 0))
    with pytest.raises(InvalidRecordError, match="naive"):
        await store.save_decision(decision().model_copy(update={"decided_at": datetime(2017, 3, 1)}))


async def test_a_closed_store_says_so(engine: Engine) -> None:
    store = engine.make()
    with pytest.raises(StoreClosedError):
        await store.cash()
    await store.open()
    await store.close()
    await store.close()
    with pytest.raises(StoreClosedError):
        await store.get_counter("x")


async def test_a_hand_edited_row_is_reported_as_corrupt(engine: Engine, store: Store) -> None:
    await store.save_order(order("e1"))
    await engine.query("UPDATE orders SET record = '{\"order_id\": 1}'")
    with pytest.raises(CorruptRecordError, match="order 'e1'"):
        await store.get_order_for_event("e1")


async def test_everything_survives_closing_and_reopening(engine: Engine) -> None:
    async with engine.make() as store:
        await store.save_order(order("e1"))
        await store.book_fill(fill(), order("e1", status=OrderStatus.FILLED), [position()], 98_999.4, at(1))
        await store.save_decision(decision("e1"))
        await store.save_mark("AAPL", 101.0, at(1))
    async with engine.make() as store:
        assert await store.cash() == 98_999.4
        assert await store.positions() == [position()]
        assert await store.fills() == [fill()]
        assert (await store.get_order_for_event("e1")) == order("e1", status=OrderStatus.FILLED)
        assert await store.get_decision("e1") == decision("e1")
        assert await store.marks() == {"AAPL": (101.0, at(1))}
