"""The record of what a run of `aegis run` is (`run.json` in its folder), so that a rerun into the same folder
resumes that run, and only that one.

`run.json` is written before the run's first record, and holds the window as resolved (symbols, first and
last trading day), the trigger screen, the settings that change what is decided (not where records go, nor
how alerts are delivered) and the command that started the run. A rerun into the folder is compared with it.

Decisions that must not be silently changed:
- A folder holding a run made with another window, symbols, screen or deciding settings is refused
  (`RunMismatchError`, one line naming the first difference and the command that resumes the recorded run):
  continuing it would mix two runs in one set of records.
- A folder holding records without `run.json` is refused too: what made them is unknown.
- How fast the clock runs, the concurrency (decisions are the same at any), the tape's path and the data
  folder's spelling are not part of a run: they may change between its processes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

from aegis.settings import Settings
from quant.screen import ScreenParams

RUN_FILE = "run.json"
# The settings that change what a run decides; the others (data folder, servers, alert delivery, checkpoints,
# timeouts) may differ between the processes of one run.
DECIDING_SETTINGS = frozenset(
    {"mode", "starting_cash", "costs", "deliberation", "llm", "protection", "posture", "hot_window_bars"}
)


class RunMismatchError(ValueError):
    """The folder holds another run (or records of unknown origin): resuming there would mix two runs."""


@dataclass(frozen=True, slots=True)
class RunRecord:
    symbols: tuple[str, ...]
    first_day: date
    last_day: date
    screen: Mapping[str, Any]
    settings: Mapping[str, Any]  # the deciding settings, as JSON
    command: str  # the command that starts (and resumes) the run

    @classmethod
    def of(
        cls, symbols: Sequence[str], dates: Sequence[date], screen: ScreenParams, settings: Settings, command: str
    ) -> RunRecord:
        deciding = settings.model_dump(mode="json", include=set(DECIDING_SETTINGS))
        return cls(
            symbols=tuple(symbols),
            first_day=dates[0],
            last_day=dates[-1],
            screen=_as_json(asdict(screen)),
            settings=_as_json(deciding),
            command=command,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "symbols": list(self.symbols),
            "first_day": self.first_day.isoformat(),
            "last_day": self.last_day.isoformat(),
            "screen": dict(self.screen),
            "settings": dict(self.settings),
            "command": self.command,
        }

    @classmethod
    def from_json(cls, held: Mapping[str, Any]) -> RunRecord:
        return cls(
            symbols=tuple(held["symbols"]),
            first_day=date.fromisoformat(held["first_day"]),
            last_day=date.fromisoformat(held["last_day"]),
            screen=held["screen"],
            settings=held["settings"],
            command=str(held["command"]),
        )

    def difference(self, asked: RunRecord) -> str | None:
        """The first way `asked` differs from this recorded run, in the operator's words; None: the same run."""
        if self.symbols != asked.symbols:
            return f"symbols {','.join(self.symbols)}, not {','.join(asked.symbols)}"
        if (self.first_day, self.last_day) != (asked.first_day, asked.last_day):
            return f"window {self.first_day}..{self.last_day}, not {asked.first_day}..{asked.last_day}"
        if self.screen != asked.screen:
            return f"another trigger screen ({_first_difference(self.screen, asked.screen)})"
        if self.settings != asked.settings:
            return f"setting {_first_difference(self.settings, asked.settings)}"
        return None


def claim_folder(folder: Path, asked: RunRecord, records_file: str) -> RunRecord | None:
    """Make `folder` the home of the run `asked` describes. Returns the recorded run when the folder holds it
    already (the run resumes); None when the run starts here (`run.json` written). Raises
    `RunMismatchError` when the folder holds another run, or records without `run.json`."""
    path = folder / RUN_FILE
    if not path.exists():
        if (folder / records_file).exists():
            raise RunMismatchError(
                f"{folder} holds records but no {RUN_FILE}: not a run of `aegis run` to resume; "
                "choose another --data-dir"
            )
        folder.mkdir(parents=True, exist_ok=True)
        _write(path, asked.to_json())
        return None
    try:
        recorded = RunRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (KeyError, TypeError, ValueError) as exc:
        raise RunMismatchError(
            f"{path} is not a run record ({type(exc).__name__}: {exc}); choose another --data-dir"
        ) from exc
    different = recorded.difference(asked)
    if different is not None:
        raise RunMismatchError(
            f"{folder} holds a run with {different}; resume it with `{recorded.command}`, or choose another --data-dir"
        )
    return recorded


def _first_difference(recorded: Any, asked: Any, path: str = "") -> str:
    if isinstance(recorded, Mapping) and isinstance(asked, Mapping):
        for key in sorted(set(recorded) | set(asked)):
            if recorded.get(key) != asked.get(key):
                return _first_difference(recorded.get(key), asked.get(key), f"{path}.{key}" if path else str(key))
    return f"{path or 'value'} was {json.dumps(recorded)}, now {json.dumps(asked)}"


def _as_json(value: Mapping[str, Any]) -> dict[str, Any]:
    """`value` as it reads back from JSON (tuples as lists), so a recorded run compares equal to itself."""
    loaded: dict[str, Any] = json.loads(json.dumps(value))
    return loaded


def _write(path: Path, value: Mapping[str, Any]) -> None:
    """Write whole or not at all (a killed process leaves the old file or the new one)."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(value, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(partial, path)
