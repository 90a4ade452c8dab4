"""The pools' check of a pooled PostgreSQL connection as it is handed out, without a round trip.

psycopg_pool's own check pings the server on every checkout: half the statements of a session were those
pings. An idle connection's socket has nothing to read (nothing here LISTENs), unless the server closed it
and sent its goodbye (a FATAL notice, then EOF: a restart, a terminated backend). So the socket is polled,
and only a readable one is pinged, and replaced by the pool when the ping fails. A server that vanished
without closing the socket is found by the next statement, which fails (`StoreUnavailableError` in the
store), and the pool discards the broken connection when it comes back.
"""

from __future__ import annotations

import select
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool


async def probe_idle(conn: psycopg.AsyncConnection[Any]) -> None:
    """Raise if `conn` is dead; return at once, without a round trip, when its socket has nothing to read."""
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the connection is closed")
    readable, _, _ = select.select([conn.fileno()], [], [], 0)
    if readable:
        await AsyncConnectionPool.check_connection(conn)
