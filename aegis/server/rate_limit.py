"""Rate limits: a token bucket per caller. In-process by default; through Redis when it is configured, so
that every server process draws on one bucket per caller (one Lua script: read, refill, take, in one step).

A refused request gets 429 with `Retry-After`, the whole seconds until one token is back.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis

from aegis.server.config import RateLimitConfig


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    retry_after_s: float  # 0 when allowed

    @property
    def retry_after_header(self) -> str:
        return str(max(1, math.ceil(self.retry_after_s)))


class RateLimiter(Protocol):
    async def take(self, bucket: str) -> Verdict: ...

    async def close(self) -> None: ...


class LocalRateLimiter:
    """Buckets in this process (the most recently used `max_buckets` of them; an idle bucket is full anyway)."""

    def __init__(self, config: RateLimitConfig, max_buckets: int = 10_000) -> None:
        self._rate = config.per_minute / 60.0
        self._burst = float(config.burst)
        self._max = max_buckets
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # bucket -> (tokens, at)

    async def take(self, bucket: str) -> Verdict:
        now = time.monotonic()
        tokens, at = self._buckets.pop(bucket, (self._burst, now))
        tokens = min(self._burst, tokens + (now - at) * self._rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._buckets[bucket] = (tokens, now)
        if len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
        return Verdict(allowed, 0.0 if allowed else (1.0 - tokens) / self._rate)

    async def close(self) -> None:
        return None


# KEYS[1] the bucket's hash; ARGV: rate per second, burst. Time from the Redis server, so the processes'
# clocks need not agree. Returns {allowed (0/1), milliseconds until a token is back}.
_TAKE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local held = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(held[1]) or burst
local at = tonumber(held[2]) or t
tokens = math.min(burst, tokens + math.max(0, t - at) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(t))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
if allowed == 1 then return {1, 0} end
return {0, math.ceil((1 - tokens) / rate * 1000)}
"""


class RedisRateLimiter:
    """Buckets in Redis under `<prefix>:ratelimit:<bucket>`. While Redis cannot be reached, requests are
    counted in this process instead (a Redis outage must not lock the operator out of a halt)."""

    def __init__(self, config: RateLimitConfig, url: str, prefix: str) -> None:
        self._rate = config.per_minute / 60.0
        self._burst = config.burst
        self._prefix = prefix
        self._client = aioredis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._script = self._client.register_script(_TAKE)
        self._fallback = LocalRateLimiter(config)

    async def take(self, bucket: str) -> Verdict:
        try:
            allowed, wait_ms = await self._script(keys=[f"{self._prefix}:ratelimit:{bucket}"],
                                                  args=[self._rate, self._burst])  # fmt: skip
        except (aioredis.RedisError, OSError):
            return await self._fallback.take(bucket)  # counted in this process while Redis is away
        return Verdict(bool(int(allowed)), int(wait_ms) / 1000.0)

    async def close(self) -> None:
        await self._client.aclose()


def open_rate_limiter(config: RateLimitConfig, redis_url: str | None, prefix: str) -> RateLimiter:
    return RedisRateLimiter(config, redis_url, prefix) if redis_url else LocalRateLimiter(config)
