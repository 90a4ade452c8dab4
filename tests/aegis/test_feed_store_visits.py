"""The store visits a feed makes every trading day, each one visit: the broker's book read whole, and the
day's closing values written with their audit line in one transaction (both or neither). On both engines."""

from __future__ import annotations

from datetime import timedelta

import pytest

from state.orders import OrderStatus
from state.store.base import AuditEntry
from tests.state.test_store_contract import T0, Store, engine, order, position, store

__all__ = ["engine", "store"]  # the contract's fixtures: SQLite, and PostgreSQL when it runs


async def test_the_broker_book_is_what_the_four_reads_return(store: Store) -> None:
    assert (await store.broker_book()).cash is None
    await store.save_cash(91_234.5, T0)
    await store.replace_positions([position("AAPL"), position("MSFT", 3.0)])
    await store.save_mark("AAPL", 187.25, T0)
    await store.save_mark("MSFT", 401.0, T0 + timedelta(days=1))
    await store.save_order(order("e1"))
    await store.save_order(order("e2", status=OrderStatus.FILLED))
    book = await store.broker_book()
    assert book.cash == await store.cash() == 91_234.5
    assert book.positions == await store.positions()
    assert book.marks == await store.marks()
    assert book.open_orders == await store.open_orders()
    assert [o.request.event_id for o in book.open_orders] == ["e1"]


async def test_the_days_values_and_their_audit_line_are_written_together(store: Store) -> None:
    closed = AuditEntry("daily_operations", "day_closed", {"day": "2024-03-04"})
    await store.put_values_audited([("ops:day:2024-03-04", {"ready": True}), ("ops:equity", {"a": 1.0})], closed, T0)
    assert (await store.get_value("ops:day:2024-03-04")) == ({"ready": True}, T0)
    assert (await store.get_value("ops:equity")) == ({"a": 1.0}, T0)
    [line] = [e for e in await store.audit_log() if e["action"] == "day_closed"]
    assert line["actor"] == "daily_operations" and line["detail"] == {"day": "2024-03-04"}


async def test_an_audit_line_that_fails_leaves_no_value_written(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    async def refused(*_: object) -> None:
        raise OSError("the audit line could not be written")

    monkeypatch.setattr(store, "_insert_audit", refused)
    closed = AuditEntry("daily_operations", "day_closed", {"day": "2024-03-05"})
    with pytest.raises(OSError, match="audit line"):
        await store.put_values_audited([("ops:day:2024-03-05", {"ok": 1})], closed, T0)
    assert await store.get_value("ops:day:2024-03-05") is None


async def test_held_marks_released_before_a_read_are_the_newest_of_each_symbol(store: Store) -> None:
    async with store.marks_behind():
        await store.save_mark("AAPL", 180.0, T0)
        await store.save_mark("MSFT", 400.0, T0)
        await store.save_mark("AAPL", 181.5, T0 + timedelta(days=1))
        assert await store.marks() == {"AAPL": (181.5, T0 + timedelta(days=1)), "MSFT": (400.0, T0)}
        await store.save_mark("MSFT", 402.0, T0 + timedelta(days=1))
    assert (await store.broker_book()).marks["MSFT"] == (402.0, T0 + timedelta(days=1))


async def test_the_broker_book_shows_held_marks_and_leaves_them_held_for_the_batch(store: Store) -> None:
    await store.save_mark("AAPL", 170.0, T0)
    later = T0 + timedelta(days=2)
    async with store.marks_behind():
        await store.save_mark("AAPL", 175.0, later)
        await store.save_mark("JPM", 150.0, later)
        book = await store.broker_book()
        assert book.marks == {"AAPL": (175.0, later), "JPM": (150.0, later)}  # as if written first
        assert store._marks_held  # not written by the read: they go with the batch
        await store.save_mark("JPM", 151.0, later + timedelta(days=1))
    assert await store.marks() == {"AAPL": (175.0, later), "JPM": (151.0, later + timedelta(days=1))}
