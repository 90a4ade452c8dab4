"""The VIX's age against its limit: fresh up to and at the limit, stale strictly past it, fail closed on an
observation time that does not parse."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from state.staleness import vix_staleness

SEEN = datetime(2017, 12, 29, 21, 0, tzinfo=UTC)
LIMIT = 5.0


@pytest.mark.parametrize(
    ("after", "stale"),
    [
        (timedelta(0), False),
        (timedelta(days=LIMIT) - timedelta(seconds=1), False),  # just under
        (timedelta(days=LIMIT), False),  # at the limit: still fresh
        (timedelta(days=LIMIT) + timedelta(seconds=1), True),  # just past
        (timedelta(days=365 * 5), True),
    ],
)
def test_the_vix_is_stale_only_strictly_past_its_limit(after: timedelta, stale: bool) -> None:
    found = vix_staleness(SEEN.isoformat(), SEEN + after, LIMIT)
    assert (found is not None) is stale
    if found is not None:
        assert found.input == "vix" and found.as_of == SEEN and found.limit == LIMIT and found.unit == "days"
        assert found.age == pytest.approx(after.total_seconds() / 86_400)
        assert found.dedup_key == f"stale_input:vix:{SEEN.isoformat()}"
        assert found.describe().startswith("vix stale: last observed 2017-12-29, ")


def test_an_unreadable_observation_time_is_stale_and_none_is_age_unknown() -> None:
    for bad in ("yesterday", 12, "2017-12-29T21:00:00"):  # not a time; not a string; no time zone
        found = vix_staleness(bad, SEEN, LIMIT)
        assert found is not None and found.as_of is None and math.isinf(found.age)
        assert "observation time unreadable" in found.describe()
    assert vix_staleness(None, SEEN + timedelta(days=100), LIMIT) is None
