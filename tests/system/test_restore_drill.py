"""The restore drill: a deployment's PostgreSQL and Redis (throwaway servers of the test's own) run real
events, are backed up with `aegis.recovery`, lose their data, are restored, and read back identical.

Never touches the machine's own servers: both servers here are started and destroyed by the test.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from psycopg import sql

from aegis import Pipeline, Settings
from aegis.recovery.archive import Manifest, restore_backup, take_backup
from aegis.recovery.errors import RecoveryError, ServerRunningError
from aegis.recovery.redis_files import snapshot
from aegis.runtime.feed import MarketFeed
from agents.llm.scripted import ScriptedClient
from graphs.deliberation.config import DeliberationConfig
from state.clock import SimulatedClock
from state.decisions import Outcome
from state.trading import TradingState
from tests.conftest import SESSION_DAY, bundled_bars, signal
from tests.graphs.test_deliberation import APPROVE, LONG, buy
from tests.services import require_service
from tests.system.throwaway_postgres import ThrowawayPostgres
from tests.throwaway import ThrowawayRedis, free_port

pytestmark = [pytest.mark.services, pytest.mark.slow]
BARS = bundled_bars()
DATABASE = "aegis_drill"
PREFIX = "drill"


@pytest.fixture
def throwaway_redis(tmp_path: Path) -> Iterator[ThrowawayRedis]:
    binary = shutil.which("redis-server")
    require_service("redis-server", binary is not None, "the redis-server binary is not on PATH")
    assert binary is not None
    folder = tmp_path / "redis-data"
    folder.mkdir()
    server = ThrowawayRedis(binary, free_port(), folder, persistent=True)
    server.start()
    try:
        yield server
    finally:
        server.kill()


def _settings(data_dir: Path, postgres_url: str, redis_url: str) -> Settings:
    roles = {r: {**c.model_dump(), "provider": "scripted"} for r, c in DeliberationConfig().roles.items()}
    return Settings(
        data_dir=data_dir,
        postgres_url=postgres_url,
        redis_url=redis_url,
        redis_prefix=PREFIX,
        deliberation=DeliberationConfig.model_validate({"roles": roles}),
    )


def _script() -> ScriptedClient:
    return ScriptedClient({"analyst": [LONG], "validator": [APPROVE], "commander": [buy(BARS[SESSION_DAY].close)]})


async def _run_events(settings: Settings) -> list[Any]:
    """Bars into the hot store, three signals deliberated, then the account halted (a control's state)."""
    clock = SimulatedClock(BARS[SESSION_DAY].time)
    async with await Pipeline.open(settings, clock=clock, providers={"scripted": _script()}) as pipeline:
        feed = MarketFeed(pipeline.services.hot, pipeline.paper_broker, clock)
        for bar in BARS[SESSION_DAY - 119 : SESSION_DAY + 1]:
            await feed.bar("AAPL", bar)
        await feed.vix(14.0)
        decisions = [await pipeline.submit(signal(f"drill-{n}", BARS[SESSION_DAY])) for n in range(3)]
        await pipeline.halt(reason="restore drill", actor="drill")
    return decisions


def _database_contents(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the public schema, in a stable order."""
    with psycopg.connect(url) as db:
        tables = [
            name
            for (name,) in db.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            ).fetchall()
        ]
        contents = {}
        for table in tables:
            rows = db.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table))).fetchall()
            contents[table] = sorted(rows, key=repr)
    return contents


def _redis_contents(url: str) -> dict[bytes, Any]:
    """Every key with its value, read by type (a restored server may encode a value differently)."""
    client = redis.Redis.from_url(url)
    try:
        found: dict[bytes, Any] = {}
        for key in client.scan_iter(count=1000):
            kind = client.type(key)
            if kind == b"string":
                found[key] = client.get(key)
            elif kind == b"hash":
                found[key] = client.hgetall(key)
            elif kind == b"list":
                found[key] = client.lrange(key, 0, -1)
            elif kind == b"set":
                found[key] = sorted(client.smembers(key))
            elif kind == b"zset":
                found[key] = client.zrange(key, 0, -1, withscores=True)
            elif kind == b"stream":
                found[key] = client.xrange(key)
            else:
                raise AssertionError(f"unexpected Redis type {kind!r} of {key!r}")
        return found
    finally:
        client.close()


def _drop_database(server: ThrowawayPostgres) -> None:
    with psycopg.connect(server.url, autocommit=True) as db:
        db.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(DATABASE)))


async def test_back_up_lose_everything_restore_and_the_records_match(
    tmp_path: Path, throwaway_postgres: ThrowawayPostgres, throwaway_redis: ThrowawayRedis
) -> None:
    require_service("pg_dump", shutil.which("pg_dump") is not None, "pg_dump is not on PATH")
    with psycopg.connect(throwaway_postgres.url, autocommit=True) as db:
        db.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    postgres_url = throwaway_postgres.url.rsplit("/", 1)[0] + f"/{DATABASE}"
    settings = _settings(tmp_path / "data", postgres_url, throwaway_redis.url)
    decisions = await _run_events(settings)
    assert any(d.outcome is Outcome.ORDERED for d in decisions), [d.reason for d in decisions]

    records, hot = _database_contents(postgres_url), _redis_contents(throwaway_redis.url)
    assert records["decisions"] and records["orders"] and records["trading_states"], "the run left records"
    assert any(key.startswith(f"{PREFIX}:".encode()) for key in hot), "the run left hot context"

    backup = tmp_path / "backup"
    manifest = take_backup(settings, backup)
    assert manifest.redis is not None and manifest.redis.kind == "aof"  # the server's folder is reachable here
    assert Manifest.read(backup) == manifest

    # the disaster: the database dropped, Redis emptied and stopped
    _drop_database(throwaway_postgres)
    client = redis.Redis.from_url(throwaway_redis.url)
    client.flushall()
    client.close()
    throwaway_redis.kill()

    report = restore_backup(settings, backup, redis_dir=throwaway_redis.directory)
    assert report.database_created and report.postgres_restored and report.redis_restored
    assert [p.name.split(".before-restore-")[0] for p in report.moved_aside] == ["appendonlydir"]
    throwaway_redis.start()

    assert _database_contents(postgres_url) == records
    assert _redis_contents(throwaway_redis.url) == hot
    async with await Pipeline.open(settings, providers={"scripted": _script()}) as pipeline:
        again = await pipeline.submit(signal("drill-0", BARS[SESSION_DAY]))  # a redelivery after the restore
        halted = (await pipeline.trading.states()).account
    assert again == decisions[0], "the restored record answers the redelivered event: no second order"
    assert halted.state is TradingState.HALTED and halted.reason == "restore drill" and halted.actor == "drill"
    assert _database_contents(postgres_url)["orders"] == records["orders"]


def test_an_rdb_snapshot_restores_into_a_redis_with_the_aof_on(tmp_path: Path) -> None:
    """The fallback: Redis's folder is not reachable (`appendonly no` here), so the backup is `redis-cli --rdb`;
    restored, it becomes the AOF base a Redis with `appendonly yes` loads."""
    binary = shutil.which("redis-server")
    require_service("redis-server", binary is not None, "the redis-server binary is not on PATH")
    require_service("redis-cli", shutil.which("redis-cli") is not None, "redis-cli is not on PATH")
    assert binary is not None
    source_dir, target_dir = tmp_path / "source", tmp_path / "target"
    source_dir.mkdir()
    source = ThrowawayRedis(binary, free_port(), source_dir, persistent=False)
    target = ThrowawayRedis(binary, free_port(), target_dir, persistent=True)
    source.start()
    try:
        client = redis.Redis.from_url(source.url)
        client.config_set("repl-diskless-sync-delay", 0)  # the snapshot at once (the default waits 5 s for replicas)
        client.set(f"{PREFIX}:posture", "defensive")
        client.hset(f"{PREFIX}:limits", mapping={"daily_loss_pct": "3.0", "max_positions": "2"})
        client.xadd(f"{PREFIX}:events", {"event": "{}"})
        client.close()
        written = _redis_contents(source.url)
        settings = Settings(redis_url=source.url, redis_prefix=PREFIX, data_dir=tmp_path / "data")
        manifest = take_backup(settings, tmp_path / "backup")
        assert manifest.redis is not None and manifest.redis.kind == "rdb"
        with pytest.raises(ServerRunningError, match="is running: stop it"):
            restore_backup(settings, tmp_path / "backup", redis_dir=target_dir)  # the source still answers
    finally:
        source.kill()
    restore_backup(Settings(data_dir=tmp_path / "data"), tmp_path / "backup", redis_dir=target_dir)
    target.start()
    try:
        assert _redis_contents(target.url) == written
    finally:
        target.kill()


def test_an_aof_folder_that_is_not_the_servers_is_refused(tmp_path: Path, throwaway_redis: ThrowawayRedis) -> None:
    """--redis-dir must be the server's own folder: a stale copy (same names, another machine's, an old volume)
    is noticed because a rewrite does not touch it; a folder with no AOF is an error, not a silent RDB."""
    stale = tmp_path / "stale"
    shutil.copytree(throwaway_redis.directory / "appendonlydir", stale / "appendonlydir")
    with pytest.raises(RecoveryError, match=r"is not the AOF of the Redis at 127\.0\.0\.1:\d+: a rewrite left it"):
        snapshot(throwaway_redis.url, tmp_path / "b1", stale)
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecoveryError, match="holds no AOF manifest"):
        snapshot(throwaway_redis.url, tmp_path / "b2", tmp_path / "empty")
    assert snapshot(throwaway_redis.url, tmp_path / "b3", throwaway_redis.directory).kind == "aof"
