"""Worker heartbeats: each worker says it is alive, who it is and how it is doing, in the durable store.

A heartbeat is the durable value `worker:<name>` (its write time is the beat's time) holding the worker's id,
pid, host, resident memory, events handled and when it started; the names of the workers that ever beat are
the value `workers`, so a reader finds them all (PostgreSQL in a deployment: every process sees every worker).
A worker that stops on purpose writes a last beat saying so: it is gone, not stale.

The registry is read, extended and written back: two workers joining at the same instant may drop one
another's name, which the next beat of each puts back (every beat checks). Nothing is ever lost but a beat.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime
from typing import Any

import psutil
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from state.store.base import DurableStore

HEARTBEAT_KEY = "worker:{name}"
WORKERS_KEY = "workers"


class WorkerBeat(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    worker: str = Field(min_length=1)
    pid: int
    host: str
    rss_mb: float = Field(ge=0, description="Resident memory of the worker's process, MB")
    handled: int = Field(ge=0, description="Events the worker is done with since it started")
    started_at: datetime
    stopped: bool = Field(False, description="The worker stopped on purpose (drained, or recycled)")


def rss_mb(process: psutil.Process | None = None) -> float:
    return (process or psutil.Process()).memory_info().rss / (1024 * 1024)


def beat_of(worker: str, handled: int, started_at: datetime, *, stopped: bool = False) -> WorkerBeat:
    return WorkerBeat(
        worker=worker,
        pid=os.getpid(),
        host=socket.gethostname(),
        rss_mb=round(rss_mb(), 1),
        handled=handled,
        started_at=started_at,
        stopped=stopped,
    )


async def write_heartbeat(store: DurableStore, beat: WorkerBeat, at: datetime) -> None:
    await store.put_value(HEARTBEAT_KEY.format(name=beat.worker), beat.model_dump(mode="json"), at)
    names = await _registered(store)
    if beat.worker not in names:
        await store.put_value(WORKERS_KEY, sorted({*names, beat.worker}), at)


async def read_heartbeats(store: DurableStore) -> list[tuple[WorkerBeat, datetime]]:
    """Every registered worker's last beat and its time, by name; a malformed beat is left out."""
    names = await _registered(store)
    found = await store.get_values([HEARTBEAT_KEY.format(name=name) for name in names])
    beats: list[tuple[WorkerBeat, datetime]] = []
    for name in names:
        value = found.get(HEARTBEAT_KEY.format(name=name))
        if value is None:
            continue
        try:
            beats.append((WorkerBeat.model_validate(value[0]), value[1]))
        except ValidationError:
            continue
    return beats


async def _registered(store: DurableStore) -> list[str]:
    value = await store.get_value(WORKERS_KEY)
    listed: Any = value[0] if value is not None else []
    return sorted({name for name in listed if isinstance(name, str)}) if isinstance(listed, list) else []
