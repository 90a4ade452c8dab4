"""Escalation: the step of an unacknowledged alert at 4:59 / 5:00 / 10:00 / 15:00, and who is paged at each step."""

from __future__ import annotations

from datetime import timedelta

import pytest

from state.alerts import AlertLevel
from tests.tools.notify.conftest import RAISED_AT, make_alert
from tools.notify.escalation import contacts_paged, escalation_step, escalations_due

MINUTES = (5.0, 10.0, 15.0)
CONTACTS = ("first", "second", "third", "fourth", "fifth")


def after(minutes: int, seconds: int = 0) -> timedelta:
    return timedelta(minutes=minutes, seconds=seconds)


@pytest.mark.parametrize(
    ("elapsed", "step"),
    [
        (after(0), 0),
        (after(4, 59), 0),
        (after(5), 1),
        (after(5, 1), 1),
        (after(9, 59), 1),
        (after(10), 2),
        (after(10, 1), 2),
        (after(14, 59), 2),
        (after(15), 3),
        (after(15, 1), 3),
        (after(90), 3),
    ],
)
def test_step_is_reached_at_its_minute(elapsed: timedelta, step: int) -> None:
    assert escalation_step(RAISED_AT, RAISED_AT + elapsed, MINUTES) == step


@pytest.mark.parametrize(
    ("step", "paged"),
    [
        (0, ("first",)),
        (1, ("first", "second")),
        (2, ("first", "second", "third")),
        (3, CONTACTS),  # everyone
    ],
)
def test_each_step_adds_the_next_contact_and_the_last_pages_everyone(step: int, paged: tuple[str, ...]) -> None:
    assert contacts_paged(CONTACTS, step, final_step=len(MINUTES)) == paged


def test_a_short_contacts_list_is_paged_whole() -> None:
    assert contacts_paged(("only",), 2, final_step=3) == ("only",)
    assert contacts_paged((), 0, final_step=3) == ()


def test_alerts_due_are_the_unacknowledged_ones_above_their_step() -> None:
    now = RAISED_AT + after(10)
    paged_at_0 = make_alert(alert_id="a-0")
    paged_at_2 = make_alert(alert_id="a-2", escalation_step=2)
    acknowledged = make_alert(alert_id="a-ack", acknowledged_at=RAISED_AT + after(1), acknowledged_by="desk")
    recent = make_alert(AlertLevel.WARNING, alert_id="a-new", raised_at=now - after(4, 59))

    due = escalations_due([paged_at_0, paged_at_2, acknowledged, recent], now, MINUTES)

    assert [(d.alert.alert_id, d.step) for d in due] == [("a-0", 2)]
