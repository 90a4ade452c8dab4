"""`aegis migrate`: apply the durable store's pending schema migrations (idempotent)."""

from __future__ import annotations

import asyncio

from rich.console import Console

from aegis.services import RECORDS_FILE
from aegis.settings import Settings
from state.store.factory import migrate as apply


def migrate() -> None:
    """Migrate PostgreSQL (AEGIS_POSTGRES_URL) or, without it, the embedded SQLite store."""
    settings = Settings()
    target = settings.postgres_url or settings.data_dir / RECORDS_FILE
    if not settings.postgres_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    applied = asyncio.run(apply(target))
    where = "PostgreSQL" if settings.postgres_url else str(target)
    Console().print(f"{where}: applied {applied or 'nothing (up to date)'}")
