"""The embedded durable store: every method, its idempotency rules, and migrations that run once."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from state.decisions import DecisionRecord, Outcome
from state.events import FieldError
from state.orders import Fill, FillReason, Order, OrderRequest, OrderStatus, OrderType, Position, Side
from state.store.base import (
    CorruptRecordError,
    DurableStore,
    InvalidRecordError,
    MigrationError,
    RecordNotFoundError,
    StoreClosedError,
    StoreConflictError,
    StoreUnavailableError,
)
from state.store.migrate import (
    MIGRATIONS_DIR,
    SCHEMA_MIGRATIONS_DDL,
    Migration,
    apply_migrations,
    load_migrations,
    split_statements,
)
from state.store.sqlite import SqliteStore

T0 = datetime(2017, 3, 1, 21, 0, tzinfo=UTC)


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


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    async with SqliteStore(tmp_path / "aegis.db") as opened:
        yield opened


def rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    """Read the file with a second, plain connection (WAL lets it read while the store is open)."""
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def test_sqlite_store_satisfies_the_durable_store_protocol(tmp_path: Path) -> None:
    store: DurableStore = SqliteStore(tmp_path / "aegis.db")
    assert store is not None


# ---- opening, migrations ------------------------------------------------------------------------


async def test_open_switches_to_wal_and_records_the_applied_migration(store: SqliteStore) -> None:
    path = Path(store.path)
    assert rows(path, "PRAGMA journal_mode") == [("wal",)]
    assert [(v, n) for v, n, _ in rows(path, "SELECT * FROM schema_migrations")] == [(1, "init")]


async def test_open_creates_the_parent_folder(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "new" / "folder" / "aegis.db") as store:
        await store.set_counter("x", 1)
    assert (tmp_path / "new" / "folder" / "aegis.db").exists()


async def test_an_in_memory_store_works_for_throwaway_runs() -> None:
    async with SqliteStore(":memory:") as store:
        await store.save_cash(1.0, T0)
        assert await store.cash() == 1.0


async def test_an_unusable_path_is_reported_as_unavailable(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailableError):
        await SqliteStore(tmp_path).open()  # a folder, not a file


async def test_migrations_applied_twice_are_a_no_op_and_keep_the_data(tmp_path: Path) -> None:
    path = tmp_path / "aegis.db"
    async with SqliteStore(path) as store:
        await store.set_counter("session_failures", 2)
    async with SqliteStore(path) as store:
        assert await store.get_counter("session_failures") == 2
    assert len(rows(path, "SELECT version FROM schema_migrations")) == 1


class _AiosqliteExecutor:
    """A minimal `SqlExecutor`, to drive the runner directly."""

    placeholder = "?"

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self.conn.execute(sql, tuple(params)) as cursor:
            return cursor.rowcount

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        async with self.conn.execute(sql, tuple(params)) as cursor:
            return [tuple(r) for r in await cursor.fetchall()]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        await self.execute("BEGIN")
        try:
            yield
        except BaseException:
            await self.execute("ROLLBACK")
            raise
        await self.execute("COMMIT")


async def test_the_runner_applies_each_version_once(tmp_path: Path) -> None:
    async with aiosqlite.connect(tmp_path / "m.db", isolation_level=None) as conn:
        db = _AiosqliteExecutor(conn)
        assert await apply_migrations(db, T0) == [1]
        assert await apply_migrations(db, T0) == []
        assert await db.fetch_all("SELECT version, name, applied_at FROM schema_migrations") == [
            (1, "init", T0.isoformat())
        ]


async def test_a_failing_migration_is_rolled_back_whole(tmp_path: Path) -> None:
    broken = Migration(2, "broken", ("CREATE TABLE half_done (x TEXT)", "CREATE TABLE nonsense ("))
    async with aiosqlite.connect(tmp_path / "m.db", isolation_level=None) as conn:
        db = _AiosqliteExecutor(conn)
        await apply_migrations(db, T0)
        with pytest.raises(MigrationError, match="0002_broken"):
            await apply_migrations(db, T0, [*load_migrations(), broken])
        tables = await db.fetch_all("SELECT name FROM sqlite_master WHERE name = 'half_done'")
        versions = await db.fetch_all("SELECT version FROM schema_migrations")
    assert tables == []
    assert versions == [(1,)]


def test_split_statements_drops_comments_and_blank_statements() -> None:
    sql = "-- header; a semicolon\nCREATE TABLE a (x TEXT); -- trailing\n\n;CREATE INDEX i ON a (x);\n"
    assert split_statements(sql) == ("CREATE TABLE a (x TEXT)", "CREATE INDEX i ON a (x)")


def test_the_runner_bootstrap_table_is_the_one_0001_creates() -> None:
    first = load_migrations()[0]
    assert (first.version, first.name) == (1, "init")
    squeezed = ["".join(statement.split()) for statement in first.statements]
    assert "".join(SCHEMA_MIGRATIONS_DDL.split()) in squeezed


def test_migration_sql_uses_only_portable_constructs() -> None:
    text = (MIGRATIONS_DIR / "0001_init.sql").read_text().upper()
    for sqlite_only in ("AUTOINCREMENT", "INTEGER PRIMARY KEY", "WITHOUT ROWID", "PRAGMA", "REAL", "BLOB"):
        assert sqlite_only not in text
    for statement in load_migrations()[0].statements:
        assert statement.startswith(("CREATE TABLE IF NOT EXISTS", "CREATE INDEX IF NOT EXISTS"))


def test_misnamed_migration_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "init.sql").write_text("CREATE TABLE IF NOT EXISTS a (x TEXT);")
    with pytest.raises(MigrationError, match=r"NNNN_name\.sql"):
        load_migrations(tmp_path)


# ---- events -------------------------------------------------------------------------------------


async def test_record_event_keeps_the_first_arrival_of_an_event_id(store: SqliteStore) -> None:
    await store.record_event("e1", "NEWS", T0, {"id": "e1", "headline": "first"})
    await store.record_event("e1", "NEWS", at(1), {"id": "e1", "headline": "redelivered"})
    await store.record_event("e2", "NEWS", at(2), {"id": "e2"})
    found = rows(Path(store.path), "SELECT event_id, seq, received_at, raw FROM events ORDER BY seq")
    assert found == [
        ("e1", 1, "2017-03-01T21:00:00.000000+00:00", '{"headline": "first", "id": "e1"}'),
        ("e2", 2, "2017-03-01T21:02:00.000000+00:00", '{"id": "e2"}'),
    ]


async def test_an_invalid_event_is_recorded_even_with_nan_inside(store: SqliteStore) -> None:
    raw = {"id": "bad", "payload": {"price": float("nan")}, "at": T0}
    await store.record_event("bad", "MARKET_TICK", T0, raw)
    [(text,)] = rows(Path(store.path), "SELECT raw FROM events")
    assert text == '{"at": "2017-03-01T21:00:00+00:00", "id": "bad", "payload": {"price": "nan"}}'


async def test_record_rejection_is_one_dead_letter_per_event_id(store: SqliteStore) -> None:
    errors = [FieldError(field="payload.bar.low", message="low must be <= open and close")]
    await store.record_rejection("bad", {"id": "bad"}, errors, T0)
    await store.record_rejection("bad", {"id": "bad"}, errors, at(1))
    await store.record_rejection(None, {"no": "id"}, errors, at(2))
    await store.record_rejection(None, {"no": "id"}, errors, at(3))
    found = rows(Path(store.path), "SELECT event_id, errors FROM rejected_events ORDER BY seq")
    assert [event_id for event_id, _ in found] == ["bad", None, None]
    assert found[0][1] == '[{"field": "payload.bar.low", "message": "low must be <= open and close"}]'


# ---- decisions ----------------------------------------------------------------------------------


async def test_save_decision_inserts_once_and_never_overwrites(store: SqliteStore) -> None:
    first = decision("e1", outcome=Outcome.HOLD)
    assert await store.save_decision(first) is True
    assert await store.save_decision(decision("e1", outcome=Outcome.ORDERED)) is False
    assert await store.get_decision("e1") == first
    assert await store.get_decision("unknown") is None


async def test_recent_decisions_are_newest_first_with_insertion_breaking_ties(store: SqliteStore) -> None:
    for event_id, minutes in [("a", 0), ("b", 5), ("c", 5), ("d", 2)]:
        await store.save_decision(decision(event_id, minutes))
    assert [d.event_id for d in await store.recent_decisions(10)] == ["c", "b", "d", "a"]
    assert [d.event_id for d in await store.recent_decisions(2)] == ["c", "b"]
    assert await store.recent_decisions(0) == []


async def test_a_decision_with_its_order_round_trips(store: SqliteStore) -> None:
    record = decision("e1", outcome=Outcome.ORDERED).model_copy(update={"order": order("e1")})
    await store.save_decision(record)
    assert await store.get_decision("e1") == record


# ---- orders and fills ---------------------------------------------------------------------------


async def test_save_order_returns_the_existing_order_for_a_repeated_event(store: SqliteStore) -> None:
    first = await store.save_order(order("e1", quantity=10.0))
    again = await store.save_order(order("e1", quantity=99.0))
    assert again == first
    assert again.request.quantity == 10.0
    assert rows(Path(store.path), "SELECT COUNT(*) FROM orders") == [(1,)]


async def test_concurrent_saves_of_one_event_make_exactly_one_order(store: SqliteStore) -> None:
    results = await asyncio.gather(*(store.save_order(order("e1", quantity=q)) for q in range(1, 21)))
    assert {r.request.quantity for r in results} == {1.0}
    assert rows(Path(store.path), "SELECT COUNT(*) FROM orders") == [(1,)]


async def test_an_order_id_taken_by_another_event_is_a_conflict(store: SqliteStore) -> None:
    await store.save_order(order("e1"))
    intruder = Order(order_id="ord-e1", request=request("e2"), status=OrderStatus.PENDING, updated_at=T0)
    with pytest.raises(StoreConflictError):
        await store.save_order(intruder)


async def test_update_order_changes_status_and_open_orders_sees_only_pending(store: SqliteStore) -> None:
    await store.save_order(order("e1"))
    await store.save_order(order("e2"))
    filled = order("e1", status=OrderStatus.FILLED).model_copy(update={"updated_at": at(1)})
    await store.update_order(filled)
    assert await store.get_order_for_event("e1") == filled
    assert [o.event_id for o in await store.open_orders()] == ["e2"]
    assert await store.get_order_for_event("nope") is None


async def test_update_of_an_unknown_order_is_refused(store: SqliteStore) -> None:
    with pytest.raises(RecordNotFoundError):
        await store.update_order(order("ghost"))


async def test_save_fill_ignores_a_repeated_fill_id(store: SqliteStore) -> None:
    await store.save_fill(fill("f1", minutes=0))
    await store.save_fill(fill("f1", minutes=9))
    await store.save_fill(fill("f2", minutes=1))
    assert [(f.fill_id, f.time) for f in await store.fills()] == [("f1", at(0)), ("f2", at(1))]
    assert (await store.fills())[0] == fill("f1", minutes=0)


async def test_book_fill_writes_fill_order_book_and_cash_together_once(store: SqliteStore) -> None:
    await store.save_order(order("e1"))
    filled = order("e1", status=OrderStatus.FILLED)
    assert await store.book_fill(fill(), filled, [position()], 98_999.4, at(1)) is True
    assert await store.book_fill(fill(), filled, [], 1.0, at(2)) is False
    assert await store.fills() == [fill()]
    assert await store.get_order_for_event("e1") == filled
    assert await store.positions() == [position()]
    assert await store.cash() == 98_999.4


async def test_book_fill_changes_nothing_when_any_part_fails(store: SqliteStore) -> None:
    await store.save_cash(100_000.0, T0)
    with pytest.raises(RecordNotFoundError):
        await store.book_fill(fill(), order("never-saved"), [position()], 1.0, at(1))
    assert await store.fills() == []
    assert await store.positions() == []
    assert await store.cash() == 100_000.0


# ---- the book -----------------------------------------------------------------------------------


async def test_replace_positions_swaps_the_whole_book(store: SqliteStore) -> None:
    await store.replace_positions([position("AAPL"), position("MSFT")])
    await store.replace_positions([position("MSFT", quantity=3.0)])
    assert await store.positions() == [position("MSFT", quantity=3.0)]
    await store.replace_positions([])
    assert await store.positions() == []


async def test_a_book_with_two_positions_in_one_symbol_is_refused(store: SqliteStore) -> None:
    await store.replace_positions([position("AAPL")])
    with pytest.raises(InvalidRecordError):
        await store.replace_positions([position("AAPL"), position("AAPL", quantity=1.0)])
    assert await store.positions() == [position("AAPL")]


async def test_cash_is_unknown_until_saved_then_the_last_balance(store: SqliteStore) -> None:
    assert await store.cash() is None
    await store.save_cash(100_000.0, T0)
    await store.save_cash(95_000.5, at(1))
    assert await store.cash() == 95_000.5
    with pytest.raises(InvalidRecordError):
        await store.save_cash(float("nan"), at(2))


async def test_marks_keep_the_last_price_per_symbol(store: SqliteStore) -> None:
    await store.save_mark("AAPL", 101.0, T0)
    await store.save_mark("AAPL", 102.5, at(1))
    await store.save_mark("MSFT", 60.0, T0)
    assert await store.marks() == {"AAPL": (102.5, at(1)), "MSFT": (60.0, T0)}


# ---- posture, audit, counters -------------------------------------------------------------------


async def test_posture_history_is_oldest_first_and_an_unusable_vix_is_unknown(store: SqliteStore) -> None:
    await store.record_posture("guerrilla", "VIX 18", 18.0, at(30))
    await store.record_posture("offensive", "VIX 12", 12.0, T0)
    await store.record_posture("defensive", "VIX feed down", float("nan"), at(60))
    assert await store.posture_history() == [
        (T0, "offensive", "VIX 12", 12.0),
        (at(30), "guerrilla", "VIX 18", 18.0),
        (at(60), "defensive", "VIX feed down", None),
    ]


async def test_audit_log_is_newest_first_and_limited(store: SqliteStore) -> None:
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


async def test_counters_start_at_zero_and_keep_the_last_value(store: SqliteStore) -> None:
    assert await store.get_counter("consecutive_session_failures") == 0
    await store.set_counter("consecutive_session_failures", 2)
    await store.set_counter("consecutive_session_failures", 3)
    assert await store.get_counter("consecutive_session_failures") == 3
    with pytest.raises(InvalidRecordError):
        await store.set_counter("x", True)


# ---- refusals and failures ----------------------------------------------------------------------


async def test_naive_timestamps_are_refused(store: SqliteStore) -> None:
    with pytest.raises(InvalidRecordError, match="naive"):
        await store.save_cash(1.0, datetime(2017, 3, 1, 21, 0))
    with pytest.raises(InvalidRecordError, match="naive"):
        await store.save_decision(decision().model_copy(update={"decided_at": datetime(2017, 3, 1)}))


async def test_a_closed_store_says_so(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "aegis.db")
    with pytest.raises(StoreClosedError):
        await store.cash()
    await store.open()
    await store.close()
    await store.close()
    with pytest.raises(StoreClosedError):
        await store.get_counter("x")


async def test_a_hand_edited_row_is_reported_as_corrupt(store: SqliteStore) -> None:
    await store.save_order(order("e1"))
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE orders SET record = '{\"order_id\": 1}'")
    with pytest.raises(CorruptRecordError, match="order 'e1'"):
        await store.get_order_for_event("e1")


async def test_everything_survives_closing_and_reopening(tmp_path: Path) -> None:
    path = tmp_path / "aegis.db"
    async with SqliteStore(path) as store:
        await store.save_order(order("e1"))
        await store.book_fill(fill(), order("e1", status=OrderStatus.FILLED), [position()], 98_999.4, at(1))
        await store.save_decision(decision("e1"))
        await store.save_mark("AAPL", 101.0, at(1))
    async with SqliteStore(path) as store:
        assert await store.cash() == 98_999.4
        assert await store.positions() == [position()]
        assert await store.fills() == [fill()]
        assert (await store.get_order_for_event("e1")) == order("e1", status=OrderStatus.FILLED)
        assert await store.get_decision("e1") == decision("e1")
        assert await store.marks() == {"AAPL": (101.0, at(1))}
