"""The writes on every event's path, each sent to PostgreSQL as one script: one round trip, not one per statement.

A session used to spend a dozen round trips on two writes: recording the event (BEGIN, advisory lock,
insert, COMMIT) and finishing the session (BEGIN, three locks, four inserts, COMMIT). Each round trip costs
the worker about 0.13 ms of CPU (psycopg and the event loop) and the session its latency. Here each write is
a list of statements that `PostgresStore` binds on the client (psycopg's `mogrify`, proper literal quoting)
and sends as one multi-statement query, which PostgreSQL runs as one implicit transaction: all of it or
none. Every statement takes its own snapshot, so a `MAX(seq) + 1` computed after the lock statements sees
every row committed by the writers it waited for, exactly as in the statement-by-statement path of
`SqlStore` (which SQLite keeps, and whose results these must equal: the store contract runs on both).

The locks are taken in `SqlStore`'s order (decisions, posture_history, audit_log), all before any insert.
The decision and its audit entries are chained in the same statement (`record_chain`): each insert computes
its `row_hash` in SQL from the values it inserts, and a CTE beside it appends the ledger entry, so the session
end stays one round trip.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from state.store.base import SessionEnd
from state.store.record_chain import GENESIS, ChainStream, float_text, row_key, sql_row_hash, stream_named
from state.store.rows import json_text, known_vix, ts

Statement = tuple[str, tuple[Any, ...]]
LockKey = Callable[[str], int]  # table -> its advisory-lock key

_LOCK = "SELECT pg_advisory_xact_lock(%s)"


def _next_seq(table: str, offset: int = 1) -> str:
    return f"(SELECT COALESCE(MAX(seq), 0) + {offset} FROM {table})"


def record_event(lock_key: LockKey, row: tuple[Any, ...]) -> list[Statement]:
    """(event_id, event_type, received_at, raw, correlation_id): its last statement returns one row if the event
    was new."""
    insert = (
        "INSERT INTO events (event_id, seq, event_type, received_at, raw, correlation_id) "
        f"VALUES (%s, {_next_seq('events')}, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING RETURNING 1"
    )
    return [(_LOCK, (lock_key("events"),)), (insert, row)]


def finish_session(lock_key: LockKey, decision: tuple[Any, ...], end: SessionEnd, at: datetime) -> list[Statement]:
    """The decision (its `decision_row`) and the writes of `end`, each only if the decision is new. The last
    statement returns (1 if the decision was inserted else 0, the streak counter's new value or NULL, 1 if the
    posture was recorded else 0)."""
    tables = ["decisions"] + ["posture_history"] * (end.posture is not None) + ["audit_log"] * bool(end.audit)
    statements: list[Statement] = [(_LOCK, (lock_key(table),)) for table in tables]
    parts = [_DECIDED, _linked("decided", "decisions")]
    params: list[Any] = [*decision, row_key([decision[0]])]
    if end.streak_counter is not None:
        parts.append(
            "streak AS (INSERT INTO counters (name, value) SELECT %s, %s FROM decided ON CONFLICT (name) "
            "DO UPDATE SET value = CASE WHEN %s THEN counters.value + 1 ELSE 0 END RETURNING value)"
        )
        params += [end.streak_counter, int(end.failed), end.failed]
    if end.posture is not None:
        posture, reason, vix = end.posture
        parts.append(
            "posture AS (INSERT INTO posture_history (seq, changed_at, posture, reason, vix) "
            f"SELECT {_next_seq('posture_history')}, %s, %s, %s, %s FROM decided "
            "WHERE (SELECT posture FROM posture_history ORDER BY seq DESC LIMIT 1) IS DISTINCT FROM %s RETURNING 1)"
        )
        params += [ts(at), posture, reason, known_vix(vix), posture]
    for n, entry in enumerate(end.audit, start=1):  # one snapshot for the whole statement: seq MAX + n
        parts += [_audit(n), _linked(f"audit_{n}", "state_changes")]
        params += [ts(at), entry.actor, entry.action, json_text(entry.detail)]
    for n, append in enumerate(end.appends, start=1):
        parts.append(f"append_{n} AS ({_APPEND})")
        params += [append.name, append.item, ts(at), append.keep]
    streak = "(SELECT value FROM streak)" if end.streak_counter is not None else "NULL"
    changed = "(SELECT count(*) FROM posture)" if end.posture is not None else "0"
    statements.append(
        (f"WITH {', '.join(parts)} SELECT (SELECT count(*) FROM decided), {streak}, {changed}", tuple(params))
    )
    return statements


def _head(stream: str, offset: int = 1) -> tuple[str, str]:
    """SQL for the next position of `stream` (+ offset - 1) and its last link's hash (`record_chain`)."""
    last = f"FROM record_chain WHERE stream = '{stream}' ORDER BY chain_seq DESC LIMIT 1"
    return f"COALESCE((SELECT chain_seq {last}), 0) + {offset}", f"COALESCE((SELECT row_hash {last}), '{GENESIS}')"


def _chained_insert(
    name: str,
    stream: ChainStream,
    values: str,
    source: str,
    *,
    conflict: str = "",
    texts: Mapping[str, str] | None = None,
) -> str:
    """A CTE inserting one chained row of `stream`: `values` selects its stored columns and link (named as
    the columns) from `source`; `row_hash` is computed by SQL (`record_chain.sql_row_hash`), a float column
    hashed from its canonical text in `texts` (column -> the expression selecting it)."""
    columns = ", ".join(stream.names)
    texts = texts or {}
    exprs = {column: texts.get(column, f"v.{column}") for column in stream.names}
    digest = sql_row_hash(stream, exprs, canonical=frozenset(texts))
    return (
        f"{name} AS (INSERT INTO {stream.table} ({columns}, row_hash) SELECT {columns}, {digest} "
        f"FROM (SELECT {values}{source}) AS v{conflict} RETURNING {', '.join(stream.key)}, chain_seq, prev_hash, "
        "row_hash)"
    )


def _linked(name: str, stream: str) -> str:
    """A CTE appending the ledger entry of the row `name` inserted; its key is the next parameter if it is
    TEXT (a decision's, an order's), else built from its `seq` (an audit entry's `[seq]`)."""
    key = "'[' || seq || ']'" if stream == "state_changes" else "%s"
    return (
        f"{name}_link AS (INSERT INTO record_chain (stream, chain_seq, row_key, prev_hash, row_hash) "
        f"SELECT '{stream}', chain_seq, {key}, prev_hash, row_hash FROM {name})"
    )


_DECISION_SEQ, _DECISION_PREV = _head("decisions")
# (event_id, event_type, outcome, symbol, decided_at, record, correlation_id), then the ledger's row key
_DECIDED = _chained_insert(
    "decided",
    stream_named("decisions"),
    f"%s::text AS event_id, {_next_seq('decisions')} AS seq, %s::text AS event_type, %s::text AS outcome, "
    "%s::text AS symbol, %s::text AS decided_at, %s::text AS record, %s::text AS correlation_id, "
    f"{_DECISION_SEQ} AS chain_seq, {_DECISION_PREV} AS prev_hash",
    "",
    conflict=" ON CONFLICT (event_id) DO NOTHING",
)

_ORDER_SEQ, _ORDER_PREV = _head("orders")
# order_row's (symbol, side, order_type, quantity, status, created_at, updated_at, correlation_id, record,
# order_id, event_id), then the quantity's canonical text, then the ledger's row key
_ORDERED = _chained_insert(
    "ordered",
    stream_named("orders"),
    "%s::text AS symbol, %s::text AS side, %s::text AS order_type, %s::double precision AS quantity, "
    "%s::text AS status, %s::text AS created_at, %s::text AS updated_at, %s::text AS correlation_id, "
    "%s::text AS record, %s::text AS order_id, %s::text AS event_id, %s::text AS quantity_text, "
    f"{_ORDER_SEQ} AS chain_seq, {_ORDER_PREV} AS prev_hash",
    "",
    conflict=" ON CONFLICT DO NOTHING",
    texts={"quantity": "v.quantity_text"},
)


def save_order(lock_key: LockKey, row: tuple[Any, ...]) -> list[Statement]:
    """A new order (`order_row`) and its link in the orders' chain; the last statement returns the count of
    orders inserted (0: an order of the same id or event is already held)."""
    params = (*row, float_text(row[3]), row_key([row[9]]))
    return [
        (_LOCK, (lock_key("orders"),)),
        (f"WITH {_ORDERED}, {_linked('ordered', 'orders')} SELECT count(*) FROM ordered", params),
    ]


def _audit(n: int) -> str:
    """The n-th audit entry of a session end, linked after the (n-1)-th (recorded_at, actor, action, detail)."""
    chain_seq, head = _head("state_changes", n)
    prev = head if n == 1 else f"(SELECT row_hash FROM audit_{n - 1})"
    return _chained_insert(
        f"audit_{n}",
        stream_named("state_changes"),
        f"{_next_seq('audit_log', n)} AS seq, %s::text AS recorded_at, %s::text AS actor, %s::text AS action, "
        f"%s::text AS detail, {chain_seq} AS chain_seq, {prev} AS prev_hash",
        " FROM decided",
    )


# A `ListAppend`: the update reads the row's latest version under its row lock, so concurrent appends
# all land. (name, item, updated_at, keep)
_APPEND = (
    "INSERT INTO hot_values (name, value, updated_at) SELECT %s, jsonb_build_array(%s::text)::text, %s FROM decided "
    "ON CONFLICT (name) DO UPDATE SET updated_at = excluded.updated_at, value = ("
    "SELECT jsonb_agg(item ORDER BY n)::text FROM ("
    "SELECT item, n, count(*) OVER () AS total FROM jsonb_array_elements("
    "CASE jsonb_typeof(hot_values.value::jsonb) WHEN 'array' THEN hot_values.value::jsonb ELSE '[]'::jsonb END"
    " || excluded.value::jsonb) WITH ORDINALITY AS listed (item, n)) AS items WHERE n > total - %s)"
)


def script(statements: Sequence[Statement], bind: Callable[[str, tuple[Any, ...]], str]) -> str:
    """The statements bound by `bind` (client-side literals) and joined into one multi-statement query."""
    return ";\n".join(bind(query, params) for query, params in statements)
