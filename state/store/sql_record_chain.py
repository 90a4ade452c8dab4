"""The SQL of the record chain, shared by both durable stores: linking a written row, reading the chains back.

This module owns the statements that advance a stream (`_link`, inside the transaction of the write) and the
reads that `verify_chains` and `export_chain` check or copy. The encoding, the hash and the check itself are
`record_chain`'s (pure). Like `sql_store`, it is written once with `?` placeholders.

Decisions that must not be silently changed:
- `_link` runs in the write's transaction, after the write, while the caller holds the writers' turn of the
  row's table: the head it reads cannot move before the link is stored (one chain, never a fork).
- The hash is computed from the row as read back from the database, not from the values the caller meant to
  store: what is hashed is what is stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from state.store.base import RecordNotFoundError, StoreError
from state.store.record_chain import (
    GENESIS,
    STREAMS,
    ChainedRow,
    ChainStream,
    LedgerEntry,
    StreamReport,
    encode_row,
    row_hash,
    row_key,
    verify_stream,
)
from state.store.sql_parts import SqlPart

_HEAD = "SELECT chain_seq, row_hash FROM record_chain WHERE stream = ? ORDER BY chain_seq DESC LIMIT 1"
_APPEND = (
    "INSERT INTO record_chain (stream, chain_seq, row_key, prev_hash, row_hash) VALUES (?, ?, ?, ?, ?) RETURNING 1"
)
_LEDGER = "SELECT chain_seq, row_key, prev_hash, row_hash FROM record_chain WHERE stream = ? ORDER BY chain_seq"


def _where(stream: ChainStream) -> str:
    return " AND ".join(f"{name} = ?" for name in stream.key)


class SqlRecordChain(SqlPart):
    async def _link(self, db: Any, stream: ChainStream, key: tuple[Any, ...]) -> None:
        """Give the row of `stream` keyed `key` (just written) the next position of its stream."""
        stored_names = ", ".join(name for name, _ in stream.stored)
        head, found = await db.fetch_many(
            [(_HEAD, (stream.name,)), (f"SELECT {stored_names} FROM {stream.table} WHERE {_where(stream)}", key)]
        )
        if not found:
            raise RecordNotFoundError(f"{stream.table}: no row {key} to chain")
        chain_seq, prev = (int(head[0][0]) + 1, str(head[0][1])) if head else (1, GENESIS)
        values = {**dict(zip((n for n, _ in stream.stored), found[0], strict=True)), "chain_seq": chain_seq}
        digest = row_hash(stream.name, encode_row(stream, {**values, "prev_hash": prev}))
        await db.fetch_many(
            [
                (
                    f"UPDATE {stream.table} SET chain_seq = ?, prev_hash = ?, row_hash = ? "
                    f"WHERE {_where(stream)} RETURNING 1",
                    (chain_seq, prev, digest, *key),
                ),
                (_APPEND, (stream.name, chain_seq, row_key(key), prev, digest)),
            ]
        )

    async def verify_chains(self) -> list[StreamReport]:
        """Every stream recomputed (`record_chain.verify_stream`), in `STREAMS` order."""
        reports: list[StreamReport] = []
        async with self._use() as db:
            for stream in STREAMS:
                ledger, rows, unchained = await self._read_stream(db, stream)
                reports.append(verify_stream(stream, ledger, rows, unchained))
        return reports

    async def export_chain(self) -> list[ChainedRow]:
        """Every ledger entry of every stream, with the encoded columns of the rows still at their position."""
        exported: list[ChainedRow] = []
        async with self._use() as db:
            for stream in STREAMS:
                ledger, rows, _ = await self._read_stream(db, stream)
                exported.extend(_exported(stream, ledger, rows))
        return exported

    @staticmethod
    async def _read_stream(db: Any, stream: ChainStream) -> tuple[list[LedgerEntry], list[tuple[Any, ...]], int]:
        width = await db.fetch_all(f"SELECT * FROM {stream.table} LIMIT 1")
        if width and len(width[0]) != len(stream.names) + 1:
            raise StoreError(
                f"{stream.table} has {len(width[0])} columns, the chain of {stream.name} covers "
                f"{len(stream.names) + 1}: record_chain.STREAMS must name every column"
            )
        names = ", ".join(stream.names)
        ledger, rows, unchained = await db.fetch_many(
            [
                (_LEDGER, (stream.name,)),
                (f"SELECT {names}, row_hash FROM {stream.table} WHERE chain_seq IS NOT NULL ORDER BY chain_seq", ()),
                (f"SELECT COUNT(*) FROM {stream.table} WHERE chain_seq IS NULL", ()),
            ]
        )
        entries = [LedgerEntry(int(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in ledger]
        return entries, [tuple(r) for r in rows], int(unchained[0][0])


def _exported(stream: ChainStream, ledger: list[LedgerEntry], rows: list[tuple[Any, ...]]) -> Iterator[ChainedRow]:
    by_seq = {int(dict(zip(stream.names, row, strict=False))["chain_seq"]): row for row in rows}
    for entry in ledger:
        row = by_seq.get(entry.chain_seq)
        columns = None if row is None else encode_row(stream, dict(zip(stream.names, row, strict=False)))
        yield ChainedRow(stream.name, entry.chain_seq, entry.row_key, columns, entry.prev_hash, entry.row_hash)
