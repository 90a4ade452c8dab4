"""Fixtures for tests of the production parts: a fresh PostgreSQL database and a Redis namespace per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
import pytest
import redis.asyncio as aioredis
from psycopg import sql

from tests.services import postgres_admin_url, redis_test_url, require_service


@asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    """A new, empty database on the loopback server (its URL); dropped afterwards."""
    admin = postgres_admin_url()
    name = f"aegis_test_{uuid.uuid4().hex[:12]}"
    try:
        connection = await psycopg.AsyncConnection.connect(admin, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        require_service("PostgreSQL", False, str(exc).strip())
        raise
    async with connection:
        await connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base, _, _ = admin.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        async with await psycopg.AsyncConnection.connect(admin, autocommit=True) as connection:
            await connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A new, empty database on the loopback server; dropped afterwards."""
    async with fresh_database() as url:
        yield url


@pytest.fixture
async def redis_namespace() -> AsyncIterator[tuple[str, str]]:
    """(url, prefix): the loopback Redis and a key prefix of this test's own; its keys deleted afterwards."""
    url = redis_test_url()
    client = aioredis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        await client.ping()
    except Exception as exc:  # any connection failure means: no Redis here
        await client.aclose()
        require_service("Redis", False, f"{type(exc).__name__}: {exc}")
        raise
    prefix = f"aegis-test-{uuid.uuid4().hex[:12]}"
    yield url, prefix
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()
