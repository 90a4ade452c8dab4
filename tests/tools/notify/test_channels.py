"""Each channel delivers the right body to a real receiver, and maps refusals onto retry / no retry."""

from __future__ import annotations

import logging

import pytest

from state.alerts import AlertLevel
from tests.tools.notify.conftest import SMTP_PASSWORD, SMTP_USER, make_alert
from tests.tools.notify.receivers import HttpReceiver, MailHandler
from tools.notify.base import ChannelRejectedError, ChannelUnavailableError, alert_text
from tools.notify.log import ALERT_LOGGER, LogChannel
from tools.notify.slack import SlackChannel
from tools.notify.smtp import SmtpChannel
from tools.notify.telegram import TelegramChannel
from tools.notify.webhook import GatewayChannel

BOT_TOKEN = "123456:AAF-secret-bot-token"


async def test_slack_posts_text_and_channel_to_the_webhook(http_receiver: HttpReceiver) -> None:
    alert = make_alert(AlertLevel.WARNING)
    await SlackChannel(f"{http_receiver.url}/services/T0/B0/xyz").send(alert, "#urgent")

    [post] = http_receiver.posts
    assert post.path == "/services/T0/B0/xyz"
    assert post.headers["Content-Type"] == "application/json"
    assert post.body == {"text": alert_text(alert), "channel": "#urgent"}
    assert "[AEGIS WARNING] loss_per_minute: Loss per minute limit hit" in post.body["text"]


async def test_telegram_calls_send_message_of_the_bot(http_receiver: HttpReceiver) -> None:
    alert = make_alert()
    await TelegramChannel(BOT_TOKEN, api_base=f"{http_receiver.url}/").send(alert, "-100200300")

    [post] = http_receiver.posts
    assert post.path == f"/bot{BOT_TOKEN}/sendMessage"
    assert post.body == {"chat_id": "-100200300", "text": alert_text(alert)}


async def test_telegram_cuts_a_text_longer_than_the_api_takes(http_receiver: HttpReceiver) -> None:
    alert = make_alert(message="x" * 5000)
    await TelegramChannel(BOT_TOKEN, api_base=http_receiver.url).send(alert, "42")

    [post] = http_receiver.posts
    assert post.body["text"] == alert_text(alert)[:4096]


@pytest.mark.parametrize("kind", ["sms", "voice"])
async def test_gateway_posts_kind_number_and_text(http_receiver: HttpReceiver, kind: str) -> None:
    alert = make_alert(AlertLevel.EMERGENCY)
    channel = GatewayChannel("sms" if kind == "sms" else "voice", f"{http_receiver.url}/page", bearer_token="gw-key")
    await channel.send(alert, "+41790000001")

    [post] = http_receiver.posts
    assert channel.name == kind
    assert post.body == {"kind": kind, "to": "+41790000001", "text": alert_text(alert)}
    assert post.headers["Authorization"] == "Bearer gw-key"


async def test_email_reaches_the_smtp_server(smtp_server: tuple[MailHandler, int]) -> None:
    handler, port = smtp_server
    alert = make_alert()
    channel = SmtpChannel("127.0.0.1", port, sender="aegis@desk.example", starttls=False, timeout_s=2.0)
    await channel.send(alert, "ops@desk.example")

    [mail] = handler.messages
    assert mail.sender == "aegis@desk.example"
    assert mail.recipients == ["ops@desk.example"]
    assert "Subject: [AEGIS CRITICAL] loss_per_minute" in mail.content
    assert "limit: -1000.0" in mail.content


async def test_email_logs_in_when_a_user_is_configured(smtp_server: tuple[MailHandler, int]) -> None:
    handler, port = smtp_server
    channel = SmtpChannel(
        "127.0.0.1", port, sender="aegis@desk.example", username=SMTP_USER, password=SMTP_PASSWORD, starttls=False
    )
    await channel.send(make_alert(), "ops@desk.example")

    assert len(handler.messages) == 1


async def test_email_with_a_wrong_password_is_rejected_without_the_password(
    smtp_server: tuple[MailHandler, int],
) -> None:
    handler, port = smtp_server
    wrong = "wrong-pw-do-not-leak"
    channel = SmtpChannel(
        "127.0.0.1", port, sender="aegis@desk.example", username=SMTP_USER, password=wrong, starttls=False
    )

    with pytest.raises(ChannelRejectedError, match="535") as raised:
        await channel.send(make_alert(), "ops@desk.example")

    assert wrong not in str(raised.value)
    assert handler.messages == []


async def test_email_is_never_sent_in_the_clear_when_starttls_is_asked(smtp_server: tuple[MailHandler, int]) -> None:
    handler, port = smtp_server
    channel = SmtpChannel("127.0.0.1", port, sender="aegis@desk.example", starttls=True)

    with pytest.raises(ChannelRejectedError, match="cannot be used as configured"):
        await channel.send(make_alert(), "ops@desk.example")

    assert handler.messages == []


@pytest.mark.parametrize(
    ("reply", "error"),
    [("550 5.1.1 no such user", ChannelRejectedError), ("451 4.3.0 try again later", ChannelUnavailableError)],
)
async def test_email_refused_recipient_is_permanent_on_5xx_and_transient_on_4xx(
    smtp_server: tuple[MailHandler, int], reply: str, error: type[Exception]
) -> None:
    handler, port = smtp_server
    handler.refuse_recipients_with = reply
    channel = SmtpChannel("127.0.0.1", port, sender="aegis@desk.example", starttls=False)

    with pytest.raises(error, match=reply.split()[0]):
        await channel.send(make_alert(), "nobody@desk.example")


async def test_email_to_a_closed_port_is_unavailable(refused_url: str) -> None:
    port = int(refused_url.rsplit(":", 1)[1])
    channel = SmtpChannel("127.0.0.1", port, sender="aegis@desk.example", starttls=False, timeout_s=1.0)

    with pytest.raises(ChannelUnavailableError, match="cannot reach SMTP"):
        await channel.send(make_alert(), "ops@desk.example")


async def test_http_5xx_is_unavailable_and_4xx_is_rejected(http_receiver: HttpReceiver) -> None:
    channel = SlackChannel(f"{http_receiver.url}/hook")
    http_receiver.answer(503, times=1)
    http_receiver.answer(400, times=1)

    with pytest.raises(ChannelUnavailableError, match="HTTP 503"):
        await channel.send(make_alert(), "#alerts")
    with pytest.raises(ChannelRejectedError, match="HTTP 400"):
        await channel.send(make_alert(), "#alerts")


async def test_http_refused_connection_is_unavailable(refused_url: str) -> None:
    with pytest.raises(ChannelUnavailableError, match=r"cannot reach 127\.0\.0\.1"):
        await SlackChannel(f"{refused_url}/hook").send(make_alert(), "#alerts")


async def test_http_slow_receiver_times_out_as_unavailable(http_receiver: HttpReceiver) -> None:
    http_receiver.delay_s = 0.4
    channel = GatewayChannel("sms", f"{http_receiver.url}/page", timeout_s=0.1)

    with pytest.raises(ChannelUnavailableError, match=r"no answer|timed out"):
        await channel.send(make_alert(), "+41790000001")


async def test_http_errors_never_carry_the_bot_token_or_the_webhook_path(http_receiver: HttpReceiver) -> None:
    http_receiver.answer(401)  # its body echoes the request path, token included

    with pytest.raises(ChannelRejectedError) as telegram_error:
        await TelegramChannel(BOT_TOKEN, api_base=http_receiver.url).send(make_alert(), "42")
    with pytest.raises(ChannelRejectedError) as slack_error:
        await SlackChannel(f"{http_receiver.url}/services/T0/B0/hook-secret").send(make_alert(), "#alerts")

    assert "HTTP 401" in str(telegram_error.value)
    assert BOT_TOKEN not in str(telegram_error.value)
    assert "hook-secret" not in str(slack_error.value)


async def test_log_channel_writes_to_the_alerts_logger_at_the_alert_level(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=ALERT_LOGGER)
    await LogChannel().send(make_alert(AlertLevel.WARNING), ALERT_LOGGER)

    [record] = caplog.records
    assert record.name == ALERT_LOGGER
    assert record.levelno == logging.WARNING
    assert "[AEGIS WARNING] loss_per_minute" in record.getMessage()
