"""The records alone, for the commands that read or audit them without starting the system.

`on_store` opens the durable store the settings name (PostgreSQL when configured, else the embedded SQLite of
the data folder), runs one piece of work on it and closes it. Unlike `aegis.cli.bots.on_records` it starts no
pipeline: nothing is published, no default is written, and it works whichever mode is configured (mode live
refuses to start the system until the paper-to-live gate is approved, and the gate's own commands must still
run). `aegis audit` reads the chains through it, so a verification never writes to what it verifies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import typer

from aegis.services import RECORDS_FILE
from aegis.settings import Settings
from state.clock import WallClock
from state.store.base import DurableStore
from state.store.factory import open_store

_T = TypeVar("_T")


def records_settings(data_dir: Path | None) -> Settings:
    """The settings in force, on the records of `data_dir` when given (one line, exit 2, when it holds none)."""
    settings = Settings(checkpoints=False)
    if data_dir is None:
        return settings
    if not (data_dir / RECORDS_FILE).is_file() and settings.postgres_url is None:
        raise typer.BadParameter(f"{data_dir} holds no records (no {RECORDS_FILE})", param_hint="--data-dir")
    return settings.model_copy(update={"data_dir": data_dir})


def on_store(data_dir: Path | None, work: Callable[[DurableStore, Settings], Awaitable[_T]]) -> _T:
    """Run `work` on the store of `data_dir` (default: the settings' own) with the settings in force."""
    settings = records_settings(data_dir)

    async def run() -> _T:
        store = await open_store(
            settings.postgres_url,
            settings.data_dir / RECORDS_FILE,
            WallClock(),
            pool_size=settings.postgres_pool_size,
        )
        try:
            return await work(store, settings)
        finally:
            await store.close()

    return asyncio.run(run())
