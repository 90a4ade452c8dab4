"""The dispatcher against real receivers: retries with backoff, no retry on refusal, every attempt recorded,
dispatch never blocks nor raises, secrets stay out of records and logs."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import pytest
from pydantic import SecretStr

from state.alerts import Alert, AlertLevel, Delivery
from state.clock import SimulatedClock
from tests.tools.notify.conftest import RAISED_AT, ListRecorder, NotedSleep, make_alert
from tests.tools.notify.receivers import HttpReceiver, MailHandler
from tools.notify.base import Channel
from tools.notify.config import (
    ChannelsConfig,
    Contact,
    EscalationConfig,
    GatewayConfig,
    NotifyConfig,
    RetryPolicy,
    SmtpConfig,
)
from tools.notify.dispatcher import AlertDispatcher
from tools.notify.escalation import escalations_due
from tools.notify.factory import build_channels
from tools.notify.slack import SlackChannel
from tools.notify.telegram import TelegramChannel
from tools.notify.webhook import GatewayChannel

RETRY = RetryPolicy(attempts=4, base_s=0.5, factor=3.0, max_s=10.0)
ANA = Contact(name="ana", email="ana@desk.example", phone="+41790000001", telegram_chat="1001")
BEN = Contact(name="ben", email="ben@desk.example", phone="+41790000002")
CAL = Contact(name="cal", phone="+41790000003")
CONFIG = NotifyConfig(contacts=(ANA, BEN, CAL), retry=RETRY)


def dispatcher_for(
    channels: dict[str, Channel], recorder: ListRecorder, sleep: NotedSleep, config: NotifyConfig = CONFIG
) -> AlertDispatcher:
    return AlertDispatcher(channels, config, recorder, sleep=sleep, clock=SimulatedClock(RAISED_AT))


def attempts(recorder: ListRecorder) -> list[tuple[int, bool]]:
    return [(d.attempt, d.ok) for d in recorder.deliveries]


async def test_503_is_retried_with_backoff_until_delivered(
    http_receiver: HttpReceiver, recorder: ListRecorder, noted_sleep: NotedSleep
) -> None:
    http_receiver.answer(503, times=2)
    dispatcher = dispatcher_for({"slack": SlackChannel(f"{http_receiver.url}/hook")}, recorder, noted_sleep)

    dispatcher.dispatch(make_alert(AlertLevel.INFO))
    await dispatcher.drain()

    assert [post.status for post in http_receiver.posts] == [503, 503, 200]
    assert attempts(recorder) == [(1, False), (2, False), (3, True)]
    assert all("HTTP 503" in (d.error or "") for d in recorder.deliveries[:2])
    assert recorder.deliveries[2].error is None
    assert {(d.channel, d.target, d.at) for d in recorder.deliveries} == {("slack", "#alerts", RAISED_AT)}
    assert noted_sleep.delays == [0.5, 1.5]  # base, base * factor


async def test_400_is_recorded_failed_without_retry(
    http_receiver: HttpReceiver, recorder: ListRecorder, noted_sleep: NotedSleep
) -> None:
    http_receiver.answer(400)
    dispatcher = dispatcher_for({"slack": SlackChannel(f"{http_receiver.url}/hook")}, recorder, noted_sleep)

    dispatcher.dispatch(make_alert(AlertLevel.INFO))
    await dispatcher.drain()

    assert len(http_receiver.posts) == 1
    assert attempts(recorder) == [(1, False)]
    assert "HTTP 400" in (recorder.deliveries[0].error or "")
    assert noted_sleep.delays == []


async def test_refused_connection_is_retried_then_recorded_failed(
    refused_url: str, recorder: ListRecorder, noted_sleep: NotedSleep
) -> None:
    channels: dict[str, Channel] = {"sms": GatewayChannel("sms", f"{refused_url}/page")}
    dispatcher = dispatcher_for(channels, recorder, noted_sleep)

    dispatcher.dispatch(make_alert(AlertLevel.CRITICAL))
    await dispatcher.drain()

    assert attempts(recorder) == [(1, False), (2, False), (3, False), (4, False)]
    assert all("cannot reach 127.0.0.1" in (d.error or "") for d in recorder.deliveries)
    assert noted_sleep.delays == [0.5, 1.5, 4.5]


async def test_dispatch_returns_before_a_slow_receiver_answers(
    http_receiver: HttpReceiver, recorder: ListRecorder, noted_sleep: NotedSleep
) -> None:
    http_receiver.delay_s = 0.3
    dispatcher = dispatcher_for({"slack": SlackChannel(f"{http_receiver.url}/hook")}, recorder, noted_sleep)

    started = time.perf_counter()
    plan = dispatcher.dispatch(make_alert(AlertLevel.INFO))
    returned_after_s = time.perf_counter() - started

    assert returned_after_s < 0.05
    assert len(plan.deliveries) == 1
    assert dispatcher.outstanding == 1
    assert recorder.deliveries == []
    await dispatcher.drain()
    assert attempts(recorder) == [(1, True)]
    assert dispatcher.outstanding == 0


async def test_drain_with_a_timeout_abandons_what_is_still_running(
    http_receiver: HttpReceiver, recorder: ListRecorder, noted_sleep: NotedSleep
) -> None:
    http_receiver.delay_s = 0.3
    dispatcher = dispatcher_for({"slack": SlackChannel(f"{http_receiver.url}/hook")}, recorder, noted_sleep)
    dispatcher.dispatch(make_alert(AlertLevel.INFO))

    abandoned = await dispatcher.drain(timeout_s=0.05)

    assert abandoned == 1
    assert dispatcher.outstanding == 0


class FailingRecorder:
    async def record_delivery(self, delivery: Delivery) -> None:
        raise ConnectionError("the store is down")


async def test_a_failing_recorder_is_logged_and_delivery_goes_on(
    http_receiver: HttpReceiver, noted_sleep: NotedSleep, caplog: pytest.LogCaptureFixture
) -> None:
    channels: dict[str, Channel] = {"slack": SlackChannel(f"{http_receiver.url}/hook")}
    dispatcher = AlertDispatcher(channels, CONFIG, FailingRecorder(), sleep=noted_sleep)

    dispatcher.dispatch(make_alert(AlertLevel.INFO))
    await dispatcher.drain()

    assert len(http_receiver.posts) == 1
    assert "recording a delivery of alert a-1 failed" in caplog.text


class BrokenChannel:
    name = "sms"

    async def send(self, alert: Alert, target: str) -> None:
        raise RuntimeError("bug with token=do-not-record")


async def test_an_adapter_bug_is_recorded_by_type_only_and_not_retried(
    recorder: ListRecorder, noted_sleep: NotedSleep
) -> None:
    dispatcher = dispatcher_for({"sms": BrokenChannel()}, recorder, noted_sleep)

    dispatcher.dispatch(make_alert(AlertLevel.CRITICAL))
    await dispatcher.drain()

    assert [d.error for d in recorder.deliveries] == ["RuntimeError raised by the sms channel"]
    assert noted_sleep.delays == []


def test_dispatch_outside_an_event_loop_logs_and_does_not_raise(
    recorder: ListRecorder, noted_sleep: NotedSleep, caplog: pytest.LogCaptureFixture
) -> None:
    dispatcher = dispatcher_for({"sms": BrokenChannel()}, recorder, noted_sleep)

    plan = dispatcher.dispatch(make_alert(AlertLevel.CRITICAL))

    assert plan.deliveries == ()
    assert "could not be dispatched" in caplog.text


async def test_secrets_stay_out_of_records_and_logs(
    http_receiver: HttpReceiver, recorder: ListRecorder, noted_sleep: NotedSleep, caplog: pytest.LogCaptureFixture
) -> None:
    token = "987654:telegram-bot-secret"
    http_receiver.answer(503, times=1)
    http_receiver.answer(403)  # both bodies echo the request path, which holds the token
    config = NotifyConfig.model_validate(
        {
            "contacts": [ANA.model_dump()],
            "routing": {"info": [{"channel": "telegram", "contact": "telegram_chat"}]},
            "retry": RETRY.model_dump(),
        }
    )
    channels: dict[str, Channel] = {"telegram": TelegramChannel(token, api_base=http_receiver.url)}
    dispatcher = dispatcher_for(channels, recorder, noted_sleep, config)
    caplog.set_level(logging.DEBUG)

    dispatcher.dispatch(make_alert(AlertLevel.INFO))
    await dispatcher.drain()

    assert attempts(recorder) == [(1, False), (2, False)]
    assert [post.path for post in http_receiver.posts] == [f"/bot{token}/sendMessage"] * 2
    assert all(token not in (d.error or "") for d in recorder.deliveries)
    assert "HTTP 403" in caplog.text
    assert token not in caplog.text


async def test_emergency_reaches_real_receivers_and_escalation_pages_the_next_contacts(
    http_receiver: HttpReceiver,
    smtp_server: tuple[MailHandler, int],
    recorder: ListRecorder,
    noted_sleep: NotedSleep,
    caplog: pytest.LogCaptureFixture,
) -> None:
    mail, smtp_port = smtp_server
    config = NotifyConfig(
        channels=ChannelsConfig(
            sms=GatewayConfig(url=SecretStr(f"{http_receiver.url}/sms")),
            voice=GatewayConfig(url=SecretStr(f"{http_receiver.url}/voice")),
            email=SmtpConfig(host="127.0.0.1", port=smtp_port, sender="aegis@desk.example", starttls=False),
        ),
        contacts=(ANA, BEN, CAL),
        escalation=EscalationConfig(minutes=(5.0, 10.0, 15.0)),
        retry=RETRY,
    )
    dispatcher = dispatcher_for(build_channels(config), recorder, noted_sleep, config)
    caplog.set_level(logging.INFO, logger="aegis.alerts")
    emergency = make_alert(AlertLevel.EMERGENCY, alert_id="e-1")

    dispatcher.dispatch(emergency)
    await dispatcher.drain()

    sent = sorted((post.body["kind"], post.body["to"]) for post in http_receiver.posts)
    assert sent == [("sms", ANA.phone)] * 3 + [("voice", ANA.phone)]
    assert "[AEGIS EMERGENCY] loss_per_minute" in caplog.text  # the log channel too

    critical = make_alert(AlertLevel.CRITICAL, alert_id="c-1")
    [due] = escalations_due([critical], RAISED_AT + timedelta(minutes=10), config.escalation.minutes)
    http_receiver.posts.clear()
    dispatcher.dispatch(due.alert, due.step)
    await dispatcher.drain()

    assert due.step == 2
    assert sorted(post.body["to"] for post in http_receiver.posts if post.body["kind"] == "sms") == [
        ANA.phone,
        BEN.phone,
        CAL.phone,
    ]
    assert sorted(r for m in mail.messages for r in m.recipients) == [ANA.email, BEN.email]  # cal has no e-mail
    assert all(d.ok for d in recorder.deliveries)
