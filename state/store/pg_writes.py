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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from state.store.base import SessionEnd
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
    parts = [
        "decided AS (INSERT INTO decisions (event_id, seq, event_type, outcome, symbol, decided_at, record, "
        f"correlation_id) VALUES (%s, {_next_seq('decisions')}, %s, %s, %s, %s, %s, %s) ON CONFLICT (event_id) "
        "DO NOTHING RETURNING 1)"
    ]
    params: list[Any] = list(decision)
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
        parts.append(
            f"audit_{n} AS (INSERT INTO audit_log (seq, recorded_at, actor, action, detail) "
            f"SELECT {_next_seq('audit_log', n)}, %s, %s, %s, %s FROM decided)"
        )
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
