"""The record chain: which stored rows are chained, how a row is encoded and hashed, and how a chain is checked.

Pure: no connection, no clock. The stores (`sql_record_chain`, `pg_writes`) write the links; `verify_stream`
recomputes them from what the stores read back; `aegis audit` prints and exports the result.

Six streams, one chain each: decisions, orders, fills, rule changes (`rule_versions`), approvals and state
changes (`audit_log`, which every trading-state transition, rule change, approval and limit change writes in
the transaction of the change; `trading_states` is only the latest state of each scope). Every chained write
(an insert, or an update of an order or an approval) takes the next position of its stream: the row gets
`chain_seq`, `prev_hash` (the stream's previous link, `GENESIS` for the first) and `row_hash`, and the ledger
`record_chain` gets (stream, chain_seq, row key, prev_hash, row_hash). A row updated later moves to a new
position; its old ledger entry stays, "superseded", so the ledger's links stay whole and a deleted row is
still missed by its entry.

Decisions that must not be silently changed:
- `row_hash` = sha256 (hex) of the UTF-8 bytes of `canonical_text(stream, columns)`, where `columns` holds
  EVERY stored column of the row but `row_hash` itself (`chain_seq` and `prev_hash` included, so the link
  is inside the hash), each encoded as stored: TEXT as its exact text (timestamps and JSON are TEXT in the
  portable schema, so both engines hold the same characters), integers (BIGINT, INTEGER, booleans stored
  as 0/1) as decimal digits, DOUBLE PRECISION as Python's shortest round-trip `repr` (`100.0`, `1e-05`),
  NULL as None. The same logical row gives the same bytes on SQLite and PostgreSQL.
- `canonical_text` = "aegis-chain-v1\\n" + stream + "\\n", then per column, by name in code-point order:
  name + TAB + ("N" for NULL, else "S" + the value's length in characters + ":" + the value) + "\\n". The
  length prefix makes the text unambiguous whatever a value holds. Changing any of this is a new version tag.
- A stream's column list must name every column of its table: `verify_stream` refuses a table whose width
  differs, so a migration that adds a column cannot leave it outside the hash.
- The head of a stream is read and advanced under the writers' turn of its table (an advisory transaction
  lock on PostgreSQL), in the transaction of the write: concurrent writers cannot fork a chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "GENESIS",
    "STREAMS",
    "ChainStream",
    "ChainedRow",
    "LedgerEntry",
    "Mismatch",
    "StreamReport",
    "canonical_text",
    "encode_row",
    "float_text",
    "row_hash",
    "row_key",
    "sql_row_hash",
    "verify_stream",
]

Kind = Literal["text", "int", "float"]
GENESIS = "0" * 64
VERSION_TAG = "aegis-chain-v1"
_LINK: tuple[tuple[str, Kind], ...] = (("chain_seq", "int"), ("prev_hash", "text"))


@dataclass(frozen=True, slots=True)
class ChainStream:
    name: str
    table: str
    key: tuple[str, ...]
    stored: tuple[tuple[str, Kind], ...]  # the table's own columns, without the link columns

    @property
    def columns(self) -> tuple[tuple[str, Kind], ...]:
        """Every column the hash covers: the stored ones and the link (`chain_seq`, `prev_hash`)."""
        return (*self.stored, *_LINK)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)


def _text(*names: str) -> tuple[tuple[str, Kind], ...]:
    return tuple((name, "text") for name in names)


STREAMS: tuple[ChainStream, ...] = (
    ChainStream(
        "decisions",
        "decisions",
        ("event_id",),
        (
            ("event_id", "text"),
            ("seq", "int"),
            *_text("event_type", "outcome", "symbol", "decided_at", "record", "correlation_id"),
        ),
    ),
    ChainStream(
        "orders",
        "orders",
        ("order_id",),
        (
            *_text("order_id", "event_id", "symbol", "side", "order_type"),
            ("quantity", "float"),
            *_text("status", "created_at", "updated_at", "record", "correlation_id"),
        ),
    ),
    ChainStream(
        "fills",
        "fills",
        ("fill_id",),
        (
            ("fill_id", "text"),
            ("seq", "int"),
            *_text("order_id", "event_id", "symbol", "side"),
            ("quantity", "float"),
            ("price", "float"),
            ("fee", "float"),
            *_text("reason", "filled_at", "bot_id", "correlation_id", "causation_id"),
        ),
    ),
    ChainStream(
        "rule_changes",
        "rule_versions",
        ("rule_id", "version"),
        (("rule_id", "text"), ("version", "int"), *_text("record", "changed_at")),
    ),
    ChainStream(
        "approvals",
        "approvals",
        ("approval_id",),
        _text("approval_id", "kind", "subject_id", "status", "created_at", "expires_at", "record"),
    ),
    ChainStream(
        "state_changes",
        "audit_log",
        ("seq",),
        (("seq", "int"), *_text("recorded_at", "actor", "action", "detail")),
    ),
)
_BY_NAME = {stream.name: stream for stream in STREAMS}


def stream_named(name: str) -> ChainStream:
    return _BY_NAME[name]


def _encode(kind: Kind, value: Any) -> str | None:
    if value is None:
        return None
    if kind == "text":
        if not isinstance(value, str):
            raise TypeError(f"a TEXT column holds {type(value).__name__}, not text")
        return value
    if kind == "int":
        return str(int(value))
    return float_text(value)


def encode_row(stream: ChainStream, values: Mapping[str, Any]) -> dict[str, str | None]:
    """Every hashed column of a row (names of `stream.columns`), encoded as the chain defines it."""
    return {name: _encode(kind, values[name]) for name, kind in stream.columns}


def canonical_text(stream: str, columns: Mapping[str, str | None]) -> str:
    lines = (
        f"{name}\t" + ("N" if value is None else f"S{len(value)}:{value}") + "\n"
        for name, value in sorted(columns.items())
    )
    return f"{VERSION_TAG}\n{stream}\n" + "".join(lines)


def row_hash(stream: str, columns: Mapping[str, str | None]) -> str:
    return hashlib.sha256(canonical_text(stream, columns).encode("utf-8")).hexdigest()


def row_key(values: Sequence[Any]) -> str:
    """The ledger's name for a row: its key values as a JSON array (`["evt-1"]`, `["rule-a", 2]`)."""
    return json.dumps(list(values), ensure_ascii=False, separators=(",", ":"))


def float_text(value: float) -> str:
    """A DOUBLE PRECISION value as the chain encodes it (`repr`), for `sql_row_hash`'s `canonical` columns."""
    return repr(float(value))


def sql_row_hash(stream: ChainStream, exprs: Mapping[str, str], *, canonical: frozenset[str] = frozenset()) -> str:
    """The PostgreSQL expression computing `row_hash` of a row whose columns are the SQL `exprs` (by name):
    the same canonical text, built by SQL, for writes that must stay inside one statement (`pg_writes`).
    SQL casts TEXT and integer columns; PostgreSQL prints a double differently from `repr`, so a float column
    must be in `canonical`, its expression giving the text already (a parameter bound to `float_text` of the
    value the statement stores)."""
    parts: list[str] = [f"'{VERSION_TAG}' || chr(10) || '{stream.name}' || chr(10)"]
    kinds = dict(stream.columns)
    for name in sorted(kinds):
        if kinds[name] == "float" and name not in canonical:
            raise ValueError(f"{stream.name}.{name}: a float column cannot be hashed in SQL")
        value = f"({exprs[name]})::text"
        parts.append(
            f"'{name}' || chr(9) || CASE WHEN {value} IS NULL THEN 'N' "
            f"ELSE 'S' || length({value}) || ':' || {value} END || chr(10)"
        )
    return f"encode(sha256(convert_to({' || '.join(parts)}, 'UTF8')), 'hex')"


@dataclass(frozen=True, slots=True)
class ChainedRow:
    """One ledger entry as `aegis audit export` writes it (one JSON line); `columns` is None for a position
    a later write of the same row superseded."""

    stream: str
    seq: int
    row_key: str
    columns: dict[str, str | None] | None
    prev_hash: str
    row_hash: str


# ---- checking a chain ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    chain_seq: int
    row_key: str
    prev_hash: str
    row_hash: str


@dataclass(frozen=True, slots=True)
class Mismatch:
    stream: str
    row_key: str
    chain_seq: int
    problem: str
    expected: str
    stored: str

    def describe(self) -> str:
        return (
            f"{self.stream}: row {self.row_key} at seq {self.chain_seq}: {self.problem} "
            f"(expected {self.expected}, stored {self.stored})"
        )


@dataclass(frozen=True, slots=True)
class StreamReport:
    stream: str
    checked: int  # rows recomputed and matched
    superseded: int  # ledger positions a later write of the same row replaced (links checked only)
    unchained: int  # rows written before the chain (NULL chain columns)
    head: str  # the last link's hash: publish it elsewhere to anchor the chain
    mismatch: Mismatch | None


def verify_stream(
    stream: ChainStream, ledger: Sequence[LedgerEntry], rows: Sequence[Sequence[Any]], unchained: int
) -> StreamReport:
    """Check `stream`: its ledger in `chain_seq` order links from `GENESIS` without a gap; each chained row
    (its `stream.columns` values, then `row_hash`) hashes to what it stores and to its ledger entry; every
    entry is either a present row or a position a later write of that row superseded. The first failure in
    chain order is reported."""
    names = stream.names
    by_seq: dict[int, Sequence[Any]] = {}
    latest: dict[str, int] = {}
    for row in rows:
        values = dict(zip(names, row, strict=False))
        seq = int(values["chain_seq"])
        by_seq[seq] = row
        key = row_key([values[k] for k in stream.key])
        latest[key] = max(seq, latest.get(key, 0))
    checked = superseded = 0
    prev, expected_seq = GENESIS, 1

    def report(mismatch: Mismatch | None) -> StreamReport:
        return StreamReport(stream.name, checked, superseded, unchained, prev, mismatch)

    for entry in ledger:
        if entry.chain_seq != expected_seq:
            return report(
                Mismatch(
                    stream.name,
                    entry.row_key,
                    expected_seq,
                    "ledger position missing",
                    f"seq {expected_seq}",
                    f"seq {entry.chain_seq}",
                )
            )
        if entry.prev_hash != prev:
            return report(Mismatch(stream.name, entry.row_key, entry.chain_seq, "broken link", prev, entry.prev_hash))
        if entry.chain_seq in by_seq:
            row = by_seq.pop(entry.chain_seq)
            problem = _row_problem(stream, entry, row)
            if problem is not None:
                return report(problem)
            checked += 1
        elif latest.get(entry.row_key, 0) > entry.chain_seq:
            superseded += 1
        else:
            return report(Mismatch(stream.name, entry.row_key, entry.chain_seq, "row missing", entry.row_hash, "none"))
        prev, expected_seq = entry.row_hash, expected_seq + 1
    for seq, row in sorted(by_seq.items()):
        key = row_key([dict(zip(names, row, strict=False))[k] for k in stream.key])
        return report(Mismatch(stream.name, key, seq, "row not in the ledger", "a ledger entry", "none"))
    return report(None)


def _row_problem(stream: ChainStream, entry: LedgerEntry, row: Sequence[Any]) -> Mismatch | None:
    values = dict(zip(stream.names, row, strict=False))
    stored_hash = str(row[len(stream.names)])
    key = row_key([values[k] for k in stream.key])
    if key != entry.row_key:
        return Mismatch(stream.name, key, entry.chain_seq, "row is not the ledger's", entry.row_key, key)
    expected = row_hash(stream.name, encode_row(stream, values))
    if expected != stored_hash:
        return Mismatch(stream.name, key, entry.chain_seq, "row altered", expected, stored_hash)
    if stored_hash != entry.row_hash:
        return Mismatch(stream.name, key, entry.chain_seq, "row and ledger differ", entry.row_hash, stored_hash)
    return None
