"""The token bucket shared through Redis: two server processes (two limiters on one prefix) draw on one
bucket per caller, and a Redis that cannot be reached falls back to counting in the process."""

from __future__ import annotations

import uuid

import redis.asyncio as aioredis

from aegis.server.config import RateLimitConfig
from aegis.server.rate_limit import RedisRateLimiter
from tests.services import redis_test_url, require_service
from tests.throwaway import free_port


async def reachable(url: str) -> bool:
    client = aioredis.Redis.from_url(url, socket_connect_timeout=1.0)
    try:
        return bool(await client.ping())
    except (aioredis.RedisError, OSError):
        return False
    finally:
        await client.aclose()


async def test_two_servers_share_one_bucket_per_caller_through_redis() -> None:
    url = redis_test_url()
    require_service("redis", await reachable(url), f"no Redis at {url}")
    config = RateLimitConfig(per_minute=60, burst=3)
    prefix = f"aegis-test-{uuid.uuid4().hex[:8]}"
    first, second = RedisRateLimiter(config, url, prefix), RedisRateLimiter(config, url, prefix)
    try:
        verdicts = [await limiter.take("key:desk") for limiter in (first, second, first, second)]
        assert [v.allowed for v in verdicts] == [True, True, True, False]
        assert 0 < verdicts[-1].retry_after_s <= 1.0
        assert (await second.take("key:other")).allowed  # another caller, a bucket of its own
    finally:
        cleanup = aioredis.Redis.from_url(url)
        keys = [k async for k in cleanup.scan_iter(f"{prefix}:*")]
        if keys:
            await cleanup.delete(*keys)
        await cleanup.aclose()
        await first.close()
        await second.close()


async def test_an_unreachable_redis_counts_in_the_process_instead() -> None:
    limiter = RedisRateLimiter(RateLimitConfig(per_minute=60, burst=2), f"redis://127.0.0.1:{free_port()}/0", "x")
    try:
        assert [(await limiter.take("key:desk")).allowed for _ in range(3)] == [True, True, False]
    finally:
        await limiter.close()
