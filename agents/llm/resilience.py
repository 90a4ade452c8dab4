"""Retries, failover and circuit breakers around the provider clients.

`ResilientClient` tries its routes (a primary endpoint/model, then backups) in order. On one route it
retries what may succeed if repeated (429, 5xx, timeouts, broken connections) with exponential backoff
and jitter, honouring the provider's Retry-After, within the call's deadline (the stage budget); it never
retries a refusal (400/401/403/...). After `max_attempts` failures on a route it fails over to the next.
Each route has a circuit breaker: open after `failures_to_open` consecutive failures, half-open (one trial
call) after `reset_after_s`. Every attempt is returned in the reply (or the error) for the decision record.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from agents.llm.client import (
    Attempt,
    CircuitOpenError,
    LLMClient,
    LLMReply,
    LLMRequest,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from state.clock import monotonic_ms

Sleep = Callable[[float], Awaitable[None]]
Seconds = Callable[[], float]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 3  # per route, the first call included
    initial_backoff_s: float = 0.25
    max_backoff_s: float = 4.0
    jitter_s: float = 0.25


class CircuitBreaker:
    """closed -> (N consecutive failures) -> open -> (reset_after_s) -> half-open: one trial call."""

    def __init__(self, failures_to_open: int = 5, reset_after_s: float = 60.0, now: Seconds = time.monotonic) -> None:
        self.failures_to_open = failures_to_open
        self.reset_after_s = reset_after_s
        self._now = now
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        return "half_open" if self._now() - self._opened_at >= self.reset_after_s else "open"

    def allow(self) -> bool:
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self._trial_running:
            self._trial_running = True
            return True
        return False

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial_running = False

    def record_failure(self) -> None:
        self._failures += 1
        if self._trial_running or self._failures >= self.failures_to_open:
            self._opened_at = self._now()
        self._trial_running = False


@dataclass(frozen=True, slots=True)
class Route:
    """An endpoint (client) and the model to ask there; `name` labels it in records and keys its breaker."""

    name: str
    client: LLMClient
    model: str | None = None  # None: the model the role asked for


class ResilientClient:
    def __init__(
        self,
        routes: Sequence[Route],
        *,
        policy: RetryPolicy | None = None,
        breakers: dict[str, CircuitBreaker] | None = None,
        sleep: Sleep = asyncio.sleep,
        now: Seconds = time.monotonic,
    ) -> None:
        if not routes:
            raise ValueError("a resilient client needs at least one route")
        self._routes = tuple(routes)
        self._policy = policy or RetryPolicy()
        self._breakers = breakers if breakers is not None else {}
        self._sleep = sleep
        self._now = now

    @property
    def provider(self) -> str:
        return self._routes[0].client.provider

    def breaker_states(self) -> dict[str, str]:
        """Each route's circuit: closed, open or half_open (the health monitor's view)."""
        return {route.name: self.breaker(route).state for route in self._routes}

    def breaker(self, route: Route) -> CircuitBreaker:
        return self._breakers.setdefault(route.name, CircuitBreaker(now=self._now))

    async def complete(self, request: LLMRequest) -> LLMReply:
        deadline = self._now() + request.timeout_s
        attempts: list[Attempt] = []
        last: ProviderError | None = None
        for route in self._routes:
            breaker = self.breaker(route)
            if not breaker.allow():
                attempts.append(Attempt(route.name, CircuitOpenError.__name__, 0.0, detail=f"circuit {breaker.state}"))
                last = CircuitOpenError(f"{route.name}: circuit open")
                continue
            try:
                reply = await self._on_route(route, request, deadline, attempts, breaker)
            except ProviderError as exc:
                last = exc
                if not exc.retryable and not isinstance(exc, CircuitOpenError):
                    break  # a refusal: another endpoint would refuse the same request too
                continue
            return dataclasses.replace(reply, attempts=tuple(attempts))
        error = last or ProviderUnavailableError("no route answered")
        error.attempts = tuple(attempts)
        raise error

    async def _on_route(
        self, route: Route, request: LLMRequest, deadline: float, attempts: list[Attempt], breaker: CircuitBreaker
    ) -> LLMReply:
        policy = self._policy
        backoff = wait_exponential_jitter(
            multiplier=policy.initial_backoff_s, max=policy.max_backoff_s, jitter=policy.jitter_s
        )

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            hint = error.retry_after if isinstance(error, ProviderError) and error.retry_after else 0.0
            return min(max(hint, backoff(state)), max(0.0, deadline - self._now()))

        retrying = AsyncRetrying(
            stop=stop_after_attempt(policy.max_attempts),
            wait=wait,
            retry=retry_if_exception(lambda e: isinstance(e, ProviderError) and e.retryable),
            sleep=self._sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                remaining = deadline - self._now()
                if remaining <= 0:
                    raise ProviderTimeoutError(f"{route.name}: stage budget spent before the call")
                call = dataclasses.replace(request, model=route.model or request.model, timeout_s=remaining)
                started = monotonic_ms()
                try:
                    reply = await route.client.complete(call)
                except ProviderError as exc:
                    attempts.append(
                        Attempt(route.name, type(exc).__name__, monotonic_ms() - started, exc.status, str(exc)[:200])
                    )
                    breaker.record_failure()
                    if breaker.state != "closed":
                        raise CircuitOpenError(f"{route.name}: circuit opened") from exc
                    raise
                attempts.append(Attempt(route.name, "ok", monotonic_ms() - started))
                breaker.record_success()
                return reply
        raise AssertionError("unreachable: tenacity reraises the last error")
