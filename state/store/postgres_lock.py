"""The account lock of `PostgresStore`: one writer of the account's orders at a time, across every process.

It is a session advisory lock held by a connection taken from the store's pool for the holder's block. The
sessions of one process queue for it in the process first (an asyncio lock), so only one of them holds a
pooled connection while it waits for the advisory lock: were each waiter to hold one, a few of them would
take the whole pool and the holder, whose reads and order need a connection, would wait until it timed out.

Handing on: when the holder leaves while another session of the same process is queued, the connection
passes to that session with its advisory lock still held, instead of an unlock followed at once by a lock
on another connection. Two round trips fewer per acquisition under load, and the exclusion is the same:
the lock never leaves this process's hands in between, and a process that dies still releases it (the
server ends its session). To stay fair to the other processes, whose sessions wait on the server, the
lock is handed on at most `MAX_HANDOFFS` times in a row, then released. A connection that is not idle
when its holder leaves (a statement cancelled mid-way) is never handed on: it goes back to the pool,
which discards it, and its session's end releases the lock.

It must never run statements other than the lock's own: the holder's statements are the store's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import psycopg
from psycopg import pq
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

__all__ = ["MAX_HANDOFFS", "AccountTurns"]

_Conn = psycopg.AsyncConnection[TupleRow]
MAX_HANDOFFS = 16  # holders in a row that get the lock from the previous one without releasing it


def _idle(conn: _Conn) -> bool:
    return not conn.closed and conn.info.transaction_status is pq.TransactionStatus.IDLE


class AccountTurns:
    """The account lock of one store in one process (`key`: the advisory lock's key)."""

    def __init__(self, key: int, *, max_handoffs: int = MAX_HANDOFFS) -> None:
        if max_handoffs < 0:
            raise ValueError(f"max_handoffs must be >= 0, got {max_handoffs}")
        self._key = key
        self._max_handoffs = max_handoffs
        self._turn = asyncio.Lock()  # this process's queue
        self._queued = 0  # sessions waiting for the turn
        self._kept: _Conn | None = None  # holds the advisory lock between two holders of this process
        self._handoffs = 0  # holders in a row since the advisory lock was last taken
        self._dropping: set[asyncio.Task[None]] = set()
        self.acquired = 0  # advisory lock statements sent (for tests and benchmarks)

    @property
    def kept(self) -> bool:
        """Whether a connection holds the advisory lock with no holder (between two holders)."""
        return self._kept is not None

    @asynccontextmanager
    async def hold(self, pool: AsyncConnectionPool[_Conn]) -> AsyncIterator[_Conn]:
        """The lock until the block ends; yields the connection holding it."""
        self._queued += 1
        try:
            await self._turn.acquire()
        except BaseException:
            self._queued -= 1
            self._drop_if_orphaned(pool)
            raise
        self._queued -= 1
        try:
            conn = await self._take(pool)
            try:
                yield conn
            finally:
                if self._queued > 0 and self._handoffs < self._max_handoffs and _idle(conn):
                    self._kept, self._handoffs = conn, self._handoffs + 1
                else:
                    await self._release(pool, conn)
        finally:
            self._turn.release()

    async def drop(self, pool: AsyncConnectionPool[_Conn]) -> None:
        """Release a lock kept for a holder that never came (before the pool closes)."""
        conn, self._kept = self._kept, None
        if conn is not None:
            await self._release(pool, conn)

    async def _take(self, pool: AsyncConnectionPool[_Conn]) -> _Conn:
        conn, self._kept = self._kept, None
        if conn is not None:
            return conn
        self._handoffs = 0
        conn = await pool.getconn()
        try:
            await conn.execute("SELECT pg_advisory_lock(%s)", (self._key,))
        except BaseException:
            await pool.putconn(conn)  # a statement cut short leaves it busy: the pool discards it
            raise
        self.acquired += 1
        return conn

    async def _release(self, pool: AsyncConnectionPool[_Conn], conn: _Conn) -> None:
        try:
            if _idle(conn):
                with suppress(psycopg.Error):  # a dead connection's session released the lock with it
                    await conn.execute("SELECT pg_advisory_unlock(%s)", (self._key,))
        finally:
            await pool.putconn(conn)

    def _drop_if_orphaned(self, pool: AsyncConnectionPool[_Conn]) -> None:
        """A queued session was cancelled: if the lock was kept for it and nobody else is coming, release it."""
        if self._kept is None or self._queued > 0 or self._turn.locked():
            return
        task = asyncio.get_running_loop().create_task(self._drop_when_free(pool))
        self._dropping.add(task)
        task.add_done_callback(self._dropping.discard)

    async def _drop_when_free(self, pool: AsyncConnectionPool[_Conn]) -> None:
        async with self._turn:
            await self.drop(pool)
