"""The health monitor against real servers stopped and started (throwaway ones: the machine's own stay up):
down is seen and recorded, and once the server is back the next check is ok and the store works again, in the
same process, without a restart."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest

from aegis import Pipeline, Settings
from aegis.runtime.health_config import HealthConfig
from aegis.runtime.health_monitor import HealthMonitor
from state.clock import SimulatedClock
from tests.services import require_service
from tests.system.throwaway_postgres import ThrowawayPostgres
from tests.throwaway import ThrowawayRedis, free_port

pytestmark = [pytest.mark.slow, pytest.mark.services]

FAST = HealthConfig(probe_timeout_s=1.5, system_memory_degraded_pct=100,
                    disk_free_degraded_pct=0, disk_free_down_pct=0)  # fmt: skip


@pytest.fixture(autouse=True)
def steady_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine's CPU load (other tests running) is not under test here."""
    monkeypatch.setattr(psutil, "cpu_percent", lambda interval=None: 5.0)


@pytest.fixture
def throwaway_redis(tmp_path: Path) -> Iterator[ThrowawayRedis]:
    binary = shutil.which("redis-server")
    require_service("redis-server", binary is not None, "the redis-server binary is not on PATH")
    assert binary is not None
    (tmp_path / "redis").mkdir()
    server = ThrowawayRedis(binary, free_port(), tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.kill()


async def statuses(pipeline: Pipeline, component: str) -> list[str]:
    return [
        str((d.operation or {}).get("status"))
        for d in await pipeline.services.store.decisions()
        if d.event_type == "SYSTEM_HEALTH" and (d.operation or {}).get("component") == component
    ]


async def test_postgres_stopped_is_down_and_recorded_once_back_then_the_store_works(
    tmp_path: Path, throwaway_postgres: ThrowawayPostgres
) -> None:
    settings = Settings(data_dir=tmp_path / "data", postgres_url=throwaway_postgres.url)
    clock = SimulatedClock(datetime(2026, 12, 4, 12, 0, tzinfo=UTC))
    async with await Pipeline.open(settings, clock=clock) as pipeline:
        monitor = HealthMonitor(pipeline, FAST, origin="srv")
        first = await monitor.check_once()
        assert first.component("postgres").status == "ok" and first.ready  # type: ignore[union-attr]

        throwaway_postgres.stop()
        down = await monitor.check_once()
        postgres = down.component("postgres")
        assert postgres is not None and postgres.status == "down" and not down.ready
        assert [e["payload"]["status"] for e in monitor.outbox if e["payload"]["component"] == "postgres"] == ["down"]

        throwaway_postgres.start()
        # back within a few rounds: a loaded machine may take longer than one probe's 1.5 s to accept connections
        rounds = [await monitor.check_once()]
        while rounds[-1].component("postgres").status != "ok" and len(rounds) < 5:  # type: ignore[union-attr]
            rounds.append(await monitor.check_once())
        back = rounds[-1]
        assert back.component("postgres").status == "ok" and back.ready  # type: ignore[union-attr]
        assert any("postgres: reconnected after the outage" in r.recovery for r in rounds)
        assert monitor.outbox == []
        assert await statuses(pipeline, "postgres") == ["down", "ok"]  # the outage's record, in PostgreSQL
        store = pipeline.services.store
        await store.put_value("after-the-outage", {"works": True}, clock.now())
        assert (await store.get_value("after-the-outage")) == ({"works": True}, clock.now())


async def test_redis_killed_is_down_and_recorded_then_back_the_hot_store_and_bus_work(
    tmp_path: Path, throwaway_redis: ThrowawayRedis
) -> None:
    settings = Settings(data_dir=tmp_path / "data", redis_url=throwaway_redis.url, redis_prefix="health-test")
    clock = SimulatedClock(datetime(2026, 12, 4, 12, 0, tzinfo=UTC))
    async with await Pipeline.open(settings, clock=clock) as pipeline:
        monitor = HealthMonitor(pipeline, FAST, origin="w1")  # watches a bus of its own on that Redis
        try:
            first = await monitor.check_once()
            assert [first.component(n).status for n in ("redis", "bus")] == ["ok", "ok"]  # type: ignore[union-attr]

            throwaway_redis.kill()
            down = await monitor.check_once()
            assert [down.component(n).status for n in ("redis", "bus")] == ["down", "down"]  # type: ignore[union-attr]
            assert not down.ready
            assert await statuses(pipeline, "redis") == ["down"]  # recorded at once: the durable store is up
            assert monitor.outbox == []

            throwaway_redis.start()  # back, empty
            back = await monitor.check_once()
            assert [back.component(n).status for n in ("redis", "bus")] == ["ok", "ok"]  # type: ignore[union-attr]
            assert back.ready and "redis: reconnected after the outage" in back.recovery
            assert await statuses(pipeline, "redis") == ["down", "ok"]
            hot = pipeline.services.hot.hot
            await hot.set_value("after-the-outage", 42)
            assert await hot.get_value("after-the-outage") == 42
        finally:
            await monitor.close()
