"""The record chain on both stores: every chained write links, `verify_chains` recomputes it, an altered or
deleted row is named, the two engines hash the same rows alike, and concurrent order writers keep one chain."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from state.clock import SimulatedClock
from state.orders import OrderStatus
from state.store.base import AuditEntry, SessionEnd
from state.store.postgres import PostgresStore
from state.store.record_chain import GENESIS, STREAMS, canonical_text, encode_row, row_hash, stream_named
from state.store.sqlite import SqliteStore
from tests.state import test_store_contract as contract
from tests.state.test_store_contract import (
    T0,
    Engine,
    Store,
    at,
    decision,
    drop_schema,
    fill,
    fresh_schema,
    order,
    position,
    require_postgres,
)

engine = contract.engine  # the contract's fixtures: each test runs on SQLite and on PostgreSQL
store = contract.store


async def _write_a_day(store: Store) -> None:
    """A decision with its audit entry (the session end), an order placed then filled, its fill, a second
    decision: what a run writes."""
    audit = (AuditEntry("session", "decided", {"event": "e1"}), AuditEntry("session", "noted", {"n": 2}))
    await store.finish_session(decision("e1"), SessionEnd(audit=audit), at(0))
    placed = await store.save_order(order("e1"))
    filled = placed.model_copy(update={"status": OrderStatus.FILLED, "updated_at": at(1)})
    await store.book_fill(fill("fill-e1-entry", "e1", 1), filled, [position()], 98_999.0, at(1))
    await store.finish_session(decision("e2", 2), SessionEnd(audit=(AuditEntry("session", "decided", {}),)), at(2))
    await store.audit("operator", "halted", {"why": "test"}, at(3))


def test_the_canonical_text_names_every_column_with_its_length() -> None:
    fills = stream_named("fills")
    values = {name: None for name in fills.names} | {"price": 100.05, "seq": 7, "reason": "entry"}
    encoded = encode_row(fills, values)
    assert encoded["price"] == "100.05" and encoded["seq"] == "7" and encoded["fee"] is None
    text = canonical_text("fills", encoded)
    assert text.startswith("aegis-chain-v1\nfills\n") and "price\tS6:100.05\n" in text and "fee\tN\n" in text
    changed = row_hash("fills", encoded | {"price": "100.06"})
    assert changed != row_hash("fills", encoded)


def test_a_value_cannot_pass_for_two_columns() -> None:
    # without the length prefix, "a\tS1:b" in one column would read like two columns
    assert row_hash("s", {"x": "a", "y": "b"}) != row_hash("s", {"x": "a\ny\tS1:b", "y": None})


async def test_every_chained_write_links_and_verifies(engine: Engine, store: Store) -> None:
    await _write_a_day(store)
    reports = {r.stream: r for r in await store.verify_chains()}
    assert all(r.mismatch is None for r in reports.values())
    assert reports["decisions"].checked == 2
    assert (reports["orders"].checked, reports["orders"].superseded) == (1, 1)  # placed, then filled
    assert reports["fills"].checked == 1
    assert reports["state_changes"].checked == 4
    first = await engine.query("SELECT prev_hash FROM decisions WHERE chain_seq = 1")
    assert first == [(GENESIS,)]


@pytest.mark.parametrize(
    ("table", "change", "stream", "key"),
    [
        ("fills", "price = price + 0.000001", "fills", '["fill-e1-entry"]'),
        ("decisions", "outcome = 'vetoed'", "decisions", '["e2"]'),
        ("audit_log", "actor = 'someone else'", "state_changes", "[3]"),
        ("orders", "quantity = 11", "orders", '["ord-e1"]'),
    ],
)
async def test_an_altered_field_is_named_with_its_row(
    engine: Engine, store: Store, table: str, change: str, stream: str, key: str
) -> None:
    await _write_a_day(store)
    target = "event_id = 'e2'" if table == "decisions" else "seq = 3" if table == "audit_log" else "1 = 1"
    await engine.query(f"UPDATE {table} SET {change} WHERE {target}")
    broken = [r for r in await store.verify_chains() if r.mismatch is not None]
    assert len(broken) == 1 and broken[0].mismatch is not None
    assert (broken[0].stream, broken[0].mismatch.row_key, broken[0].mismatch.problem) == (stream, key, "row altered")


async def test_a_deleted_row_in_the_middle_is_found(engine: Engine, store: Store) -> None:
    await _write_a_day(store)
    await engine.query("DELETE FROM audit_log WHERE seq = 2")
    [broken] = [r for r in await store.verify_chains() if r.mismatch is not None]
    assert broken.mismatch is not None
    assert (broken.stream, broken.mismatch.chain_seq, broken.mismatch.problem) == ("state_changes", 2, "row missing")
    assert broken.checked == 1


async def test_rows_written_before_the_chain_are_counted_not_failed(engine: Engine, store: Store) -> None:
    await _write_a_day(store)
    await engine.query("UPDATE decisions SET chain_seq = NULL, prev_hash = NULL, row_hash = NULL")
    await engine.query("DELETE FROM record_chain WHERE stream = 'decisions'")
    reports = {r.stream: r for r in await store.verify_chains()}
    assert reports["decisions"].mismatch is None and reports["decisions"].unchained == 2


@pytest.mark.services
async def test_both_engines_hash_the_same_rows_alike(tmp_path: Path) -> None:
    url, schema = await require_postgres(), fresh_schema()
    try:
        async with SqliteStore(tmp_path / "a.db", clock=SimulatedClock(T0)) as lite:
            await lite.open()
            await _write_a_day(lite)
            on_sqlite = await lite.export_chain()
        async with PostgresStore(url, schema=schema, clock=SimulatedClock(T0), max_size=2) as pg:
            await pg.open()
            await _write_a_day(pg)
            on_postgres = await pg.export_chain()
    finally:
        await drop_schema(url, schema)
    assert on_sqlite == on_postgres
    assert {row.stream for row in on_sqlite} == {"decisions", "orders", "fills", "state_changes"}


@pytest.mark.services
async def test_concurrent_order_writers_on_postgresql_keep_one_chain() -> None:
    url, schema = await require_postgres(), fresh_schema()
    try:
        async with PostgresStore(url, schema=schema, clock=SimulatedClock(T0), max_size=8) as pg:
            await pg.open()
            await asyncio.gather(*(pg.save_order(order(f"c{n}")) for n in range(40)))
            reports = {r.stream: r for r in await pg.verify_chains()}
            ledger = await pg.export_chain()
    finally:
        await drop_schema(url, schema)
    assert reports["orders"].mismatch is None and reports["orders"].checked == 40
    assert sorted(row.seq for row in ledger if row.stream == "orders") == list(range(1, 41))


def test_every_stream_is_listed_once() -> None:
    assert len({s.name for s in STREAMS}) == len(STREAMS) == 6
