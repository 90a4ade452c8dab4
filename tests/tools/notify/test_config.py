"""The configuration: defaults are the AEGIS table, YAML reads as documented, mistakes fail at load, secrets hide."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from state.alerts import AlertLevel
from tools.notify.config import EscalationConfig, NotifyConfig, RetryPolicy, Route
from tools.notify.factory import build_channels

EXAMPLE = """
channels:
  slack: {webhook_url: "https://hooks.slack.com/services/T0/B0/secret-path"}
  telegram: {bot_token: "123:telegram-secret"}
  email:
    host: smtp.desk.example
    port: 587
    sender: aegis@desk.example
    username: aegis
    password: smtp-secret
  sms: {url: "https://pager.desk.example/send", bearer_token: gateway-secret}
  voice: {url: "https://pager.desk.example/send", bearer_token: gateway-secret}
contacts:
  - {name: ana, email: ana@desk.example, phone: "+41790000001", telegram_chat: "1001"}
  - {name: ben, phone: "+41790000002"}
routing:
  info:
    - {channel: slack, target: "#alerts"}
    - {channel: telegram, contact: telegram_chat}
escalation: {minutes: [5, 10, 15]}
retry: {attempts: 4, base_s: 0.5, factor: 2, max_s: 10}
"""


def test_defaults_are_the_aegis_routing_table() -> None:
    routing = NotifyConfig().routing

    def table(level: AlertLevel) -> list[tuple[str, str | None, int]]:
        return [(r.channel, r.target or r.contact, r.repeat) for r in routing.routes_for(level)]

    assert table(AlertLevel.INFO) == [("slack", "#alerts", 1)]
    assert table(AlertLevel.WARNING) == [("slack", "#urgent", 1), ("email", "email", 1)]
    assert table(AlertLevel.CRITICAL) == [("sms", "phone", 1), ("voice", "phone", 1), ("email", "email", 1)]
    assert table(AlertLevel.EMERGENCY) == [("sms", "phone", 3), ("voice", "phone", 1)]
    assert NotifyConfig().escalation.minutes == (5.0, 10.0, 15.0)


def test_yaml_example_loads_and_keeps_the_default_routes_it_does_not_name() -> None:
    config = NotifyConfig.model_validate(yaml.safe_load(EXAMPLE))

    assert [r.channel for r in config.routing.info] == ["slack", "telegram"]
    assert config.routing.emergency == NotifyConfig().routing.emergency
    assert config.retry.delay_s(1) == 0.5
    assert sorted(build_channels(config)) == ["email", "log", "slack", "sms", "telegram", "voice"]


def test_embedded_default_builds_only_the_log_channel() -> None:
    assert list(build_channels(NotifyConfig())) == ["log"]


def test_secrets_never_show_in_the_config_repr() -> None:
    shown = repr(NotifyConfig.model_validate(yaml.safe_load(EXAMPLE)))

    for secret in ("secret-path", "telegram-secret", "smtp-secret", "gateway-secret"):
        assert secret not in shown


@pytest.mark.parametrize(
    "route",
    [
        {"channel": "slack"},  # no address
        {"channel": "slack", "target": "#a", "contact": "email"},  # two addresses
        {"channel": "pager", "target": "x"},  # no such channel
        {"channel": "sms", "contact": "fax"},  # no such contact field
        {"channel": "sms", "contact": "phone", "repeat": 0},
        {"channel": "sms", "contact": "phone", "colour": "red"},  # unknown key
    ],
)
def test_a_wrong_route_fails_at_load(route: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Route.model_validate(route)


@pytest.mark.parametrize("minutes", [(), (0.0, 5.0), (10.0, 5.0), (5.0, 5.0)])
def test_escalation_minutes_must_be_positive_and_increasing(minutes: tuple[float, ...]) -> None:
    with pytest.raises(ValidationError):
        EscalationConfig(minutes=minutes)


def test_backoff_doubles_up_to_its_ceiling() -> None:
    policy = RetryPolicy(attempts=6, base_s=1.0, factor=2.0, max_s=5.0)

    assert [policy.delay_s(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_config_is_frozen() -> None:
    with pytest.raises(ValidationError):
        NotifyConfig().retry.attempts = 9  # type: ignore[misc]
