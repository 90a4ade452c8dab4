"""Fixtures of the notify tests: real receivers on loopback (HTTP and SMTP), an address nobody answers on,
a recorder that keeps deliveries, and a sleep that only notes the delays it was asked for."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP

from state.alerts import Alert, AlertLevel, Delivery
from tests.tools.notify.receivers import HttpReceiver, MailHandler, PasswordCheck

RAISED_AT = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
SMTP_USER = "aegis"
SMTP_PASSWORD = "s3cret-smtp-pw"


def make_alert(level: AlertLevel = AlertLevel.CRITICAL, *, alert_id: str = "a-1", **changes: Any) -> Alert:
    fields: dict[str, Any] = {
        "alert_id": alert_id,
        "dedup_key": f"loss_per_minute:{alert_id}",
        "level": level,
        "kind": "loss_per_minute",
        "message": "Loss per minute limit hit",
        "detail": {"loss_per_minute": -1250.0, "limit": -1000.0},
        "raised_at": RAISED_AT,
    }
    fields.update(changes)
    return Alert(**fields)


class ListRecorder:
    """Keeps every recorded delivery, in order."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []

    async def record_delivery(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)


class NotedSleep:
    """An injected sleep that returns at once and notes each delay: backoff is checked, never waited for."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay_s: float) -> None:
        self.delays.append(delay_s)
        await asyncio.sleep(0)


@pytest.fixture(autouse=True)
def _no_proxy_for_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    # a proxy set in the environment would otherwise carry the loopback requests away
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture
def refused_url() -> Iterator[str]:
    """An http URL on loopback where nothing listens: the port is held (bound, not listening), so it stays free."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}"


@pytest.fixture
async def smtp_server() -> AsyncIterator[tuple[MailHandler, int]]:
    """An aiosmtpd server on the test's loop; it accepts AUTH (user SMTP_USER) without TLS, as a test relay."""
    handler = MailHandler()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(
            handler,
            hostname="127.0.0.1",
            authenticator=PasswordCheck(SMTP_USER, SMTP_PASSWORD),
            auth_require_tls=False,
        ),
        "127.0.0.1",
        0,
    )
    port = server.sockets[0].getsockname()[1]
    yield handler, port
    server.close()
    await server.wait_closed()


@pytest.fixture
def recorder() -> ListRecorder:
    return ListRecorder()


@pytest.fixture
def noted_sleep() -> NotedSleep:
    return NotedSleep()
