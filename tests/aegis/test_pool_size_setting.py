"""`postgres_pool_size`: the records store's pooled connections per process, a validated setting whose default is
the store's own."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from aegis.settings import Settings
from state.store.postgres import DEFAULT_POOL_SIZE, PostgresStore


def test_the_default_is_the_stores_default() -> None:
    assert Settings().postgres_pool_size == DEFAULT_POOL_SIZE == 8


def test_the_environment_sets_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AEGIS_POSTGRES_POOL_SIZE", "16")
    assert Settings().postgres_pool_size == 16


@pytest.mark.parametrize("size", [0, -1, 101])
def test_a_size_out_of_range_is_refused(size: int) -> None:
    with pytest.raises(ValidationError, match="postgres_pool_size"):
        Settings(postgres_pool_size=size)


def test_the_store_refuses_an_empty_pool() -> None:
    with pytest.raises(ValueError, match="max_size"):
        PostgresStore("postgresql://127.0.0.1/none", max_size=0)
