"""The check of an event-set folder before a run replays it: the three files there, readable and consistent.

A folder that is not a whole set (no ``labels.jsonl``, a manifest that is not the set's, a tape whose events
are not the labelled ones) is refused up front with one line (`SetFolderError`), never after replaying
everything. The check reads the event lines of the tape only (the market ticks are skipped unparsed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from evals.sets import LABELS_FILE, MANIFEST_FILE, TAPE_FILE
from state.events import EventType

_TICK = f'"type":"{EventType.MARKET_TICK.value}"'
_BUILD = "build one with `aegis eval build`"


class SetFolderError(ValueError):
    """The folder is not a whole, consistent event set; one line saying what is wrong."""


def check_set_folder(folder: Path) -> dict[str, Any]:
    """The set's manifest, once `folder` is checked: tape, labels and manifest present, readable and agreeing
    (the labels' events are the tape's events, as many as the manifest counts)."""
    if not folder.is_dir():
        raise SetFolderError(f"{folder} is not a folder; {_BUILD}")
    missing = [name for name in (TAPE_FILE, LABELS_FILE, MANIFEST_FILE) if not (folder / name).is_file()]
    if missing:
        raise SetFolderError(f"{folder} is not an event set: it lacks {' and '.join(missing)}; {_BUILD}")
    manifest = _json_object(folder / MANIFEST_FILE)
    events = manifest.get("events")
    if not isinstance(events, int) or "prices" not in manifest:
        raise SetFolderError(f"{folder / MANIFEST_FILE} is not a set manifest (no event count or prices); {_BUILD}")
    labelled = _ids(folder / LABELS_FILE, "event_id", skip_ticks=False)
    on_tape = _ids(folder / TAPE_FILE, "id", skip_ticks=True)
    if len(labelled) != events or len(on_tape) != events:
        raise SetFolderError(
            f"{folder}: the manifest counts {events} events, {LABELS_FILE} labels {len(labelled)} and "
            f"{TAPE_FILE} holds {len(on_tape)}; rebuild the set"
        )
    if set(labelled) != set(on_tape):
        stray = sorted(set(on_tape) ^ set(labelled))[0]
        raise SetFolderError(f"{folder}: event {stray!r} is on the tape or in the labels, not both; rebuild the set")
    return manifest


def _json_object(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SetFolderError(f"{path} is not readable JSON ({exc.__class__.__name__}); {_BUILD}") from None
    if not isinstance(value, dict):
        raise SetFolderError(f"{path} is not a JSON object; {_BUILD}")
    return value


def _ids(path: Path, key: str, *, skip_ticks: bool) -> list[str]:
    ids: list[str] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip() or (skip_ticks and _TICK in line):
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                raise SetFolderError(f"{path}, line {number}: not JSON; rebuild the set") from None
            if not isinstance(value, dict) or not isinstance(value.get(key), str):
                raise SetFolderError(f"{path}, line {number}: no {key!r}; rebuild the set") from None
            ids.append(value[key])
    return ids
