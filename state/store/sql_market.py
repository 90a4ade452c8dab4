"""The market context's durable writes, batched: a feed's bars, hot values and the broker's marks.

A feed applies ticks in batches (`state.tiered_hot.TieredHot.batch`). What a batch writes here is market data
that a redo writes again identically (a bar is insert-or-ignore on its symbol and time; a mark and a value
keep the newest), so it goes in one transaction per batch (`save_market`), not one statement per tick.

Marks are the broker's: while `marks_behind()` is open, `save_mark` keeps the newest mark of each symbol in
memory; they are written with the batch's bars, and before any other statement of this store (every engine's
`_use` calls `_release_marks` first), so whatever this process reads or writes next (an order's or a fill's
transaction, the broker's reload) finds them written, as before. Marks released alone go in one multi-row
statement (one round trip, atomic), not a transaction of their own: a feed's broker reloads its book every
trading day. Orders, fills, positions and cash are never held back: they keep their own transactions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from datetime import datetime
from typing import Any

from state.events import Bar
from state.store.base import AuditEntry
from state.store.rows import finite, json_text, ts
from state.store.sql_parts import SqlPart

SAVE_BAR = (
    "INSERT INTO market_bars (symbol, bar_time, record) VALUES (?, ?, ?) ON CONFLICT (symbol, bar_time) DO NOTHING"
)
SAVE_MARK = (
    "INSERT INTO marks (symbol, price, as_of) VALUES (?, ?, ?) ON CONFLICT (symbol) "
    "DO UPDATE SET price = excluded.price, as_of = excluded.as_of"
)
PUT_VALUE = (
    "INSERT INTO hot_values (name, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (name) "
    "DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
)

MARKS_PER_STATEMENT = 1_000  # more go row by row in one transaction (a statement's parameters are bounded)


def save_marks(count: int) -> str:
    """SAVE_MARK for `count` marks of distinct symbols in one statement (atomic like one row)."""
    head, _, tail = SAVE_MARK.partition("VALUES (?, ?, ?)")
    return head + "VALUES " + ", ".join(["(?, ?, ?)"] * count) + tail


def mark_row(symbol: str, price: float, at: datetime) -> tuple[str, float, str]:
    return (symbol, finite("price", price), ts(at))


class SqlMarketWrites(SqlPart):
    _marks_held: dict[str, tuple[str, float, str]] | None = None  # symbol -> its newest mark, while held back

    @asynccontextmanager
    async def marks_behind(self) -> AsyncIterator[None]:
        """While open, marks are held back and written with the next batch or statement (see the module)."""
        if self._marks_held is not None:  # nested: the outer block writes them
            yield
            return
        self._marks_held = {}
        try:
            yield
        except BaseException:
            with suppress(Exception):  # written as they would have been; the block's own error is the one raised
                await self._write_held_marks()
            raise
        await self._write_held_marks()

    async def _write_held_marks(self) -> None:
        held, self._marks_held = self._marks_held, None
        if held:
            await self._write_market((), (), list(held.values()))

    def _hold_mark(self, row: tuple[str, float, str]) -> bool:
        """Keep `row` for later if marks are held back (True), else False: the caller writes it now."""
        if self._marks_held is None:
            return False
        self._marks_held[row[0]] = row
        return True

    @asynccontextmanager
    async def _marks_kept_back(self) -> AsyncIterator[dict[str, tuple[str, float, str]]]:
        """For a read that lays the held marks over what it reads itself (the broker's book): the held marks,
        not written first; they stay held (behind any newer one held meanwhile) for the batch to write."""
        held = self._marks_held or {}
        if self._marks_held is not None:
            self._marks_held = {}
        try:
            yield dict(held)
        finally:
            if held and self._marks_held is None:  # the holding block ended meanwhile: written now, as it would
                await self._write_market((), (), list(held.values()))
            elif held and self._marks_held is not None:
                self._marks_held = {**held, **self._marks_held}

    async def _release_marks(self) -> None:
        if self._marks_held:
            held, self._marks_held = self._marks_held, {}
            await self._write_market((), (), list(held.values()))

    async def save_market(self, bars: Sequence[tuple[str, Bar]], values: Sequence[tuple[str, Any, datetime]]) -> None:
        """A batch's bars and hot values (with the marks held back, if any), in one transaction."""
        held, self._marks_held = self._marks_held, ({} if self._marks_held is not None else None)
        await self._write_market(
            [(symbol, ts(bar.time), bar.model_dump_json()) for symbol, bar in bars],
            [(name, json_text(value), ts(at)) for name, value, at in values],
            list(held.values()) if held else [],
        )

    async def put_values_audited(self, values: Sequence[tuple[str, Any]], audit: AuditEntry, at: datetime) -> None:
        """Durable values (as `put_value`) and the audit line that records them, in one transaction: both or
        neither, one commit instead of one per write (the daily operations close every trading day so)."""
        async with self._use(transaction=True) as db:
            for name, value in values:
                await db.execute(PUT_VALUE, (name, json_text(value), ts(at)))
            await self._insert_audit(db, (audit,), at)

    async def _write_market(
        self, bars: Sequence[tuple[str, str, str]], values: Sequence[tuple[str, str, str]], marks: Sequence[Any]
    ) -> None:
        if not (bars or values or marks):
            return
        if not (bars or values) and len(marks) <= MARKS_PER_STATEMENT:
            # Marks alone (released before another statement): one statement, one trip, no BEGIN/COMMIT.
            newest = list({row[0]: row for row in marks}.values())  # one row per symbol: the last, as in order
            async with self._use() as db:
                await db.execute(save_marks(len(newest)), [field for row in newest for field in row])
            return
        async with self._use(transaction=True) as db:
            for query, rows in ((SAVE_BAR, bars), (PUT_VALUE, values), (SAVE_MARK, marks)):
                if rows:
                    await db.execute_many(query, rows)
