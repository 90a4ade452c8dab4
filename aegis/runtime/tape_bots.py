"""The bots a recorded tape was decided with: `<tape>.bots.json` beside it.

A tape holds events; the bots that traded them (ids, strategies, universes, starting allocations) are not
events, yet a replay decides the same only with the same bots. `aegis run --events-out TAPE` writes them
beside the tape as it starts; `aegis replay TAPE` registers them on records that hold no bots. Everything
that changes them later (a rebalancing, a breaker) is in the tape as events and replays as it happened.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from state.bots import Bot

_BOTS = TypeAdapter(list[Bot])


class UnreadableTapeBotsError(ValueError):
    """The tape's bots file exists but does not hold a list of bots."""


def tape_bots_path(tape: Path) -> Path:
    return tape.with_name(tape.name + ".bots.json")


async def write_tape_bots(tape: Path | None, bots: Sequence[Bot]) -> None:
    if tape is None:
        return
    text = json.dumps([bot.model_dump(mode="json") for bot in bots], indent=2) + "\n"
    await asyncio.to_thread(tape_bots_path(tape).write_text, text, encoding="utf-8")


async def read_tape_bots(tape: Path) -> list[Bot]:
    """The bots beside `tape` (none when it has no bots file)."""
    path = tape_bots_path(tape)
    if not await asyncio.to_thread(path.is_file):
        return []
    try:
        return _BOTS.validate_json(await asyncio.to_thread(path.read_bytes))
    except ValidationError as exc:
        raise UnreadableTapeBotsError(f"{path.name}: not a list of bots ({exc.error_count()} errors)") from None
