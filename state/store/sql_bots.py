"""The SQL of the bots, shared by both durable stores: their records and their daily marks.

This module owns the stored form of a bot (one row per bot, replaced by each change, audited in the same
transaction) and of the bots' day-start marks (one per bot and day, first write wins). Like `sql_store`,
it is written once with `?` placeholders; an engine supplies the connection.

Decisions that must not be silently changed:
- A change of any number of bots and its audit entry are one transaction: an allocation is applied to
  every bot or to none, never half.
- The registered allocations never sum past 100 % of equity: checked on the whole registry as it would be
  after the write, inside the write's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from state.bots import Bot, BotDay, check_allocations
from state.store.base import AuditEntry, InvalidRecordError
from state.store.rows import finite, parse, ts
from state.store.sql_parts import SqlPart


def _bot_day(row: Sequence[Any]) -> BotDay:
    return BotDay(bot_id=row[0], day=date.fromisoformat(row[1]), pnl=row[2], sleeve=row[3], allocation=row[4])


class SqlBots(SqlPart):
    _byte_order = ""  # how to make ORDER BY bot_id compare bytes (PostgreSQL's store sets COLLATE "C")

    async def bots(self) -> list[Bot]:
        async with self._use() as db:
            rows = await db.fetch_all("SELECT bot_id, record FROM bots ORDER BY seq")
        return [parse("bot", r[0], Bot.model_validate_json, r[1]) for r in rows]

    async def save_bots(self, bots: Sequence[Bot], audit: AuditEntry, at: datetime) -> None:
        async with self._use(transaction=True) as db:
            await self._take_turn(db, "bots")
            rows = await db.fetch_all("SELECT bot_id, allocation FROM bots")
            after = {str(r[0]): float(r[1]) for r in rows} | {bot.bot_id: bot.allocation for bot in bots}
            try:
                check_allocations(after)
            except ValueError as exc:
                raise InvalidRecordError(str(exc)) from None
            for bot in bots:
                await db.execute(
                    "INSERT INTO bots (bot_id, seq, state, allocation, record, updated_at) "
                    "VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM bots), ?, ?, ?, ?) "
                    "ON CONFLICT (bot_id) DO UPDATE SET state = excluded.state, allocation = excluded.allocation, "
                    "record = excluded.record, updated_at = excluded.updated_at",
                    (bot.bot_id, bot.state.value, bot.allocation, bot.model_dump_json(), ts(at)),
                )
            await self._insert_audit(db, (audit,), at)

    async def record_bot_days(self, days: Sequence[BotDay], at: datetime) -> None:
        rows = [
            (d.bot_id, d.day.isoformat(), finite("pnl", d.pnl), finite("sleeve", d.sleeve), d.allocation, ts(at))
            for d in days
        ]
        async with self._use(transaction=True) as db:
            for row in rows:
                await db.execute(
                    "INSERT INTO bot_days (bot_id, day, pnl, sleeve, allocation, recorded_at) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (bot_id, day) DO NOTHING",
                    row,
                )

    async def bot_days(self, since: date | None = None) -> list[BotDay]:
        where, params = ("WHERE day >= ? ", (since.isoformat(),)) if since is not None else ("", ())
        async with self._use() as db:
            rows = await db.fetch_all(
                "SELECT bot_id, day, pnl, sleeve, allocation FROM bot_days "
                f"{where}ORDER BY day, bot_id{self._byte_order}",
                params,
            )
        return [parse("bot day", f"{r[0]}@{r[1]}", _bot_day, r) for r in rows]
