"""Post-cutoff sets: only the events a model cannot have read about, those after its stated knowledge cutoff.

`after_cutoff(folder, out, cutoff)` writes the set in `folder` with only the events dated after `cutoff`: their
tape lines and labels, the market ticks from the warm-up before the first of them on (the indicators' history),
and a manifest whose window, counts and benchmark prices start there. The cutoff is a date, or a role whose
model's cutoff the provider catalog states (`agents.llm.catalog.ModelSpec.knowledge_cutoff`, read by
`cutoff_for`).

Decisions that must not be silently changed:
- An event on the cutoff day itself is dropped: "after" is strictly after.
- A set with no event after the cutoff is refused (`CutoffError`, one line naming its newest event date and the
  cutoff), never written empty; so is a model the catalog states no cutoff for (no guessed cutoffs).
- The bundled data ends in 2017, long before any catalogued cutoff: the mode needs imported, newer data.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

from aegis.runtime.replay_job import WARMUP_DAYS
from aegis.runtime.tape_bots import tape_bots_path
from aegis.settings import Settings
from agents.llm.catalog import CATALOG
from evals.set_folder import check_set_folder
from evals.sets import LABELS_FILE, MANIFEST_FILE, TAPE_FILE
from state.events import EventType

_TICK = EventType.MARKET_TICK.value


class CutoffError(ValueError):
    """No post-cutoff set can be made (one line saying why)."""


def model_cutoff(model_id: str) -> date | None:
    """The knowledge cutoff the catalog states for `model_id` (None: the vendor states none)."""
    for provider in CATALOG.values():
        for model in provider.models:
            if model.id == model_id:
                return model.knowledge_cutoff
    known = ", ".join(m.id for p in CATALOG.values() for m in p.models)
    raise CutoffError(f"model {model_id!r} is not in the provider catalog (known: {known})")


def cutoff_for(value: str, settings: Settings) -> tuple[date, str]:
    """The cutoff `value` names, and what it is: an ISO date, or a role whose configured model's cutoff it is."""
    roles = settings.deliberation.roles
    if value in roles:
        model = roles[value].model
        stated = model_cutoff(model)
        if stated is None:
            raise CutoffError(
                f"{model} (the {value}'s model) has no stated knowledge cutoff in the provider catalog "
                f"(its vendor publishes none); give a date instead (YYYY-MM-DD)"
            )
        return stated, f"{model}, the {value}'s model"
    try:
        return date.fromisoformat(value), "given date"
    except ValueError:
        raise CutoffError(f"{value!r} is neither a role ({', '.join(sorted(roles))}) nor a date (YYYY-MM-DD)") from None


def after_cutoff(folder: Path, out: Path, cutoff: date, why: str = "given date") -> Path:
    """Write to `out` the set in `folder` restricted to its events dated after `cutoff`; `out`."""
    manifest = check_set_folder(folder)
    lines = [json.loads(line) for line in (folder / TAPE_FILE).read_text(encoding="utf-8").splitlines() if line]
    events = [line for line in lines if line.get("type") != _TICK]
    kept = [line for line in events if _day(line) > cutoff]
    if not kept:
        newest = max((_day(line) for line in events), default=None)
        raise CutoffError(
            f"set {manifest.get('name', folder.name)!r}: no event after the knowledge cutoff {cutoff} ({why}): its "
            f"newest event is {newest or 'none'}; build a set from newer data (`aegis data import`)"
        )
    first_event = min(_day(line) for line in kept)
    tick_days = sorted({_day(line) for line in lines if line.get("type") == _TICK and _day(line) < first_event})
    first_tick = tick_days[-WARMUP_DAYS] if len(tick_days) >= WARMUP_DAYS else (tick_days or [first_event])[0]
    ids = {line["id"] for line in kept}
    out.mkdir(parents=True, exist_ok=True)
    tape = [line for line in lines if (line["id"] in ids) or (line.get("type") == _TICK and _day(line) >= first_tick)]
    _write_lines(out / TAPE_FILE, tape)
    labels = [json.loads(line) for line in (folder / LABELS_FILE).read_text(encoding="utf-8").splitlines() if line]
    kept_labels = [label for label in labels if label["event_id"] in ids]
    _write_lines(out / LABELS_FILE, kept_labels)
    restricted = _manifest(manifest, kept_labels, cutoff, why, first_event, first_tick)
    (out / MANIFEST_FILE).write_text(json.dumps(restricted, sort_keys=True, indent=1) + "\n", encoding="utf-8")
    bots = tape_bots_path(folder / TAPE_FILE)
    if bots.is_file():
        tape_bots_path(out / TAPE_FILE).write_text(bots.read_text(encoding="utf-8"), encoding="utf-8")
    return out


def _day(line: dict[str, Any]) -> date:
    return date.fromisoformat(str(line["event_time"])[:10])


def _manifest(
    manifest: dict[str, Any], labels: list[dict[str, Any]], cutoff: date, why: str, first_event: date, first_tick: date
) -> dict[str, Any]:
    prices = manifest["prices"]
    start = next((i for i, day in enumerate(prices["dates"]) if date.fromisoformat(day) >= first_event), 0)
    return {
        **manifest,
        "name": f"{manifest.get('name')}-after-{cutoff.isoformat()}",
        "window": [max(first_event, date.fromisoformat(manifest["window"][0])).isoformat(), manifest["window"][1]],
        "first_tick_day": first_tick.isoformat(),
        "first_event_day": first_event.isoformat(),
        "events": len(labels),
        "events_by_kind": dict(sorted(Counter(label["kind"] for label in labels).items())),
        "prices": {
            "dates": prices["dates"][start:],
            "close": {symbol: closes[start:] for symbol, closes in prices["close"].items()},
        },
        "after_cutoff": {"cutoff": cutoff.isoformat(), "by": why},
    }


def _write_lines(path: Path, lines: list[dict[str, Any]]) -> None:
    text = "".join(json.dumps(line, sort_keys=True, separators=(",", ":")) + "\n" for line in lines)
    path.write_text(text, encoding="utf-8")
