"""Skip-or-fail for tests that need a real service (PostgreSQL, Redis) on loopback.

A developer without the service gets a skip that names the reason; CI sets AEGIS_REQUIRE_SERVICES=1 so a
missing service fails the run instead of silently skipping the tests that matter most.
"""

from __future__ import annotations

import os

import pytest

REQUIRE_SERVICES_ENV = "AEGIS_REQUIRE_SERVICES"


def services_required() -> bool:
    return os.environ.get(REQUIRE_SERVICES_ENV, "").strip() == "1"


def require_service(name: str, reachable: bool, why: str) -> None:
    """Return if `reachable`; otherwise skip the calling test, or fail it when services are required."""
    if reachable:
        return
    message = f"{name} is not reachable: {why}"
    if services_required():
        pytest.fail(f"{message} ({REQUIRE_SERVICES_ENV}=1)", pytrace=False)
    pytest.skip(message)


def postgres_admin_url() -> str:
    """The loopback PostgreSQL the tests use (trust auth), overridable for other machines."""
    return os.environ.get("AEGIS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def redis_test_url() -> str:
    return os.environ.get("AEGIS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
