"""Routing: which (channel, target) deliveries each level produces, per escalation step, and what is skipped."""

from __future__ import annotations

from state.alerts import AlertLevel
from tests.tools.notify.conftest import make_alert
from tools.notify.config import Contact, NotifyConfig, Route, RoutingConfig
from tools.notify.log import ALERT_LOGGER
from tools.notify.routing import PlannedDelivery, plan_deliveries

ALL_CHANNELS = ("log", "slack", "telegram", "email", "sms", "voice")
ANA = Contact(name="ana", email="ana@desk.example", phone="+41790000001", telegram_chat="1001")
BEN = Contact(name="ben", email="ben@desk.example", phone="+41790000002")
CAL = Contact(name="cal", email="cal@desk.example", phone="+41790000003")
DEV = Contact(name="dev", phone="+41790000004")
CONFIG = NotifyConfig(contacts=(ANA, BEN, CAL, DEV))
LOG = PlannedDelivery("log", ALERT_LOGGER)


def deliveries(level: AlertLevel, step: int = 0, available: tuple[str, ...] = ALL_CHANNELS) -> list[tuple[str, str]]:
    plan = plan_deliveries(make_alert(level), step, CONFIG, available)
    return [(d.channel, d.target) for d in plan.deliveries]


def test_info_goes_to_slack_alerts() -> None:
    assert deliveries(AlertLevel.INFO) == [("log", ALERT_LOGGER), ("slack", "#alerts")]


def test_warning_goes_to_slack_urgent_and_email_of_the_first_contact() -> None:
    assert deliveries(AlertLevel.WARNING) == [
        ("log", ALERT_LOGGER),
        ("slack", "#urgent"),
        ("email", "ana@desk.example"),
    ]


def test_critical_goes_to_sms_voice_and_email() -> None:
    assert deliveries(AlertLevel.CRITICAL) == [
        ("log", ALERT_LOGGER),
        ("sms", "+41790000001"),
        ("voice", "+41790000001"),
        ("email", "ana@desk.example"),
    ]


def test_emergency_sends_sms_three_times_and_calls() -> None:
    assert deliveries(AlertLevel.EMERGENCY) == [
        ("log", ALERT_LOGGER),
        ("sms", "+41790000001"),
        ("sms", "+41790000001"),
        ("sms", "+41790000001"),
        ("voice", "+41790000001"),
    ]


def test_escalation_adds_contacts_step_by_step_while_channel_routes_stay_single() -> None:
    emails = {
        step: [target for channel, target in deliveries(AlertLevel.WARNING, step) if channel == "email"]
        for step in range(4)
    }
    slack = [deliveries(AlertLevel.WARNING, step).count(("slack", "#urgent")) for step in range(4)]

    assert emails[0] == ["ana@desk.example"]
    assert emails[1] == ["ana@desk.example", "ben@desk.example"]
    assert emails[2] == ["ana@desk.example", "ben@desk.example", "cal@desk.example"]
    assert emails[3] == ["ana@desk.example", "ben@desk.example", "cal@desk.example"]  # dev has no e-mail
    assert slack == [1, 1, 1, 1]


def test_everyone_gets_the_emergency_sms_three_times_at_the_last_step() -> None:
    sms = [target for channel, target in deliveries(AlertLevel.EMERGENCY, 3) if channel == "sms"]

    assert sms == [
        phone for phone in ("+41790000001", "+41790000002", "+41790000003", "+41790000004") for _ in range(3)
    ]


def test_unconfigured_channels_are_skipped_and_reported() -> None:
    plan = plan_deliveries(make_alert(AlertLevel.CRITICAL), 0, CONFIG, ("log", "email"))

    assert plan.deliveries == (LOG, PlannedDelivery("email", "ana@desk.example"))
    assert [(s.route.channel, s.reason) for s in plan.skipped] == [
        ("sms", "channel 'sms' is not configured"),
        ("voice", "channel 'voice' is not configured"),
    ]


def test_embedded_default_reaches_only_the_log() -> None:
    plan = plan_deliveries(make_alert(AlertLevel.EMERGENCY), 3, NotifyConfig(), ("log",))

    assert plan.deliveries == (LOG,)
    assert {s.route.channel for s in plan.skipped} == {"sms", "voice"}


def test_a_contact_without_the_address_is_skipped_and_reported() -> None:
    config = NotifyConfig(
        contacts=(DEV,),
        routing=RoutingConfig(warning=(Route(channel="telegram", contact="telegram_chat"),)),
    )
    plan = plan_deliveries(make_alert(AlertLevel.WARNING), 0, config, ALL_CHANNELS)

    assert plan.deliveries == (LOG,)
    assert [s.reason for s in plan.skipped] == ["contact 'dev' has no telegram_chat"]


def test_contact_routes_without_contacts_are_reported() -> None:
    plan = plan_deliveries(make_alert(AlertLevel.CRITICAL), 0, NotifyConfig(), ALL_CHANNELS)

    assert plan.deliveries == (LOG,)
    assert {s.reason for s in plan.skipped} == {"no contacts are configured"}


def test_two_routes_to_the_same_address_send_once() -> None:
    config = NotifyConfig(
        contacts=(ANA,),
        routing=RoutingConfig(info=(Route(channel="email", contact="email"), Route(channel="email", target=ANA.email))),
    )
    plan = plan_deliveries(make_alert(AlertLevel.INFO), 0, config, ALL_CHANNELS)

    assert plan.deliveries == (LOG, PlannedDelivery("email", "ana@desk.example"))
