"""The prompt audit: what in the recorded prompts of a run could tell a model which stock and which day it is.

`audit_run(run_folder)` reads the run's ``prompts.jsonl`` (`aegis eval run --prompts`, `evals.prompt_log`) and
reports every leak in every message a role was shown:
- ``ticker``: a known ticker (the bundled symbols, the set's symbols, and for a masked set the real tickers
  behind its aliases), as a whole word, case-sensitive;
- ``company``: a company name of `evals.company_names`, case-insensitive;
- ``date``: an ISO date (YYYY-MM-DD) or a month-name date ("March 5, 2014", "5 Mar 2014", "Mar 2014") in the
  years 1990-2030;
- ``year``: a bare year 1990-2030 that is not part of a longer number or a decimal.

Decisions that must not be silently changed:
- The date window is the span of years a model could place (the market history it was trained on and a few
  years past it). The masked calendar (`evals.masking`, from 2101) lies outside it on purpose: a synthetic date
  tells a model nothing it can recall, so it is not a leak; a real date of the window always is.
- Each distinct leak is reported once per prompt (event, role), in the file's order, so two audits of one run
  print the same lines.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from evals.company_names import COMPANY_NAMES
from evals.masking import MAPPING_FILE, MONTH_NAME_DATE, YEAR
from evals.prompt_log import PROMPTS_FILE, PromptEntry, read_prompts
from evals.runner import RUN_FILE
from evals.sets import MANIFEST_FILE
from tools.feeds.tape import VIX_SYMBOL

FIRST_YEAR, LAST_YEAR = 1990, 2030
LEAK_KINDS = ("ticker", "company", "date", "year")
_ISO_DATE = re.compile(r"(?<!\d)(\d{4})-\d{2}-\d{2}(?!\d)")


class AuditError(ValueError):
    """The run cannot be audited (no recorded prompts); one line saying what to do."""


@dataclass(frozen=True, slots=True)
class Leak:
    event_id: str
    role: str
    kind: str  # one of LEAK_KINDS
    text: str

    def line(self) -> str:
        return f"{self.event_id or '(no event)'} {self.role}: {self.kind} {self.text!r}"


@dataclass(frozen=True, slots=True)
class LeakPatterns:
    """What the audit looks for: the tickers and company names it knows."""

    tickers: frozenset[str]
    names: frozenset[str]

    @classmethod
    def known(cls, extra_tickers: Iterable[str] = ()) -> LeakPatterns:
        tickers = frozenset(COMPANY_NAMES) | frozenset(extra_tickers)
        names = frozenset(name for symbol in tickers for name in COMPANY_NAMES.get(symbol, ()))
        return cls(tickers, names)

    def find(self, text: str) -> list[tuple[str, str]]:
        """(kind, leaked text) of every leak in `text`, in order of kind then position, each distinct once."""
        found: list[tuple[str, str]] = []
        if self.tickers:
            words = "|".join(re.escape(t) for t in sorted(self.tickers, key=len, reverse=True))
            found += [("ticker", m[0]) for m in re.finditer(rf"(?<![A-Za-z0-9])(?:{words})(?![A-Za-z0-9])", text)]
        if self.names:
            names = "|".join(re.escape(n) for n in sorted(self.names, key=len, reverse=True))
            found += [("company", m[0]) for m in re.finditer(rf"(?<!\w)(?:{names})(?!\w)", text, re.IGNORECASE)]
        rest = text
        for match in _ISO_DATE.finditer(text):
            rest = rest.replace(match[0], " ")
            if FIRST_YEAR <= int(match[1]) <= LAST_YEAR:
                found.append(("date", match[0]))
        for match in MONTH_NAME_DATE.finditer(rest):
            years = [int(y) for y in re.findall(r"\d{4}", match[0])]
            if not years or any(FIRST_YEAR <= y <= LAST_YEAR for y in years):
                found.append(("date", match[0]))
            rest = rest.replace(match[0], " ")
        found += [("year", m[0]) for m in YEAR.finditer(rest)]
        return list(dict.fromkeys(found))


def audit_prompts(entries: Iterable[PromptEntry], patterns: LeakPatterns) -> list[Leak]:
    """Every leak of every prompt, once per (prompt, kind, text)."""
    leaks: list[Leak] = []
    for entry in entries:
        text = "\n".join(content for _, content in entry.messages)
        leaks += [Leak(entry.event_id, entry.role, kind, found) for kind, found in patterns.find(text)]
    return leaks


def audit_run(run_folder: Path, set_folder: Path | None = None) -> tuple[list[Leak], int]:
    """The leaks in the run's recorded prompts and how many prompts were read. The set (default: the run's,
    from ``run.json``) adds its symbols, and for a masked set the real tickers behind its aliases."""
    path = run_folder / PROMPTS_FILE
    if not path.is_file():
        raise AuditError(
            f"{run_folder} holds no {PROMPTS_FILE}: rerun it with `aegis eval run SET --prompts --out {run_folder}`"
        )
    entries = read_prompts(path)
    return audit_prompts(entries, LeakPatterns.known(set_tickers(set_folder or _run_set(run_folder)))), len(entries)


def set_tickers(set_folder: Path | None) -> set[str]:
    """The set's own symbols and, for a masked set, the real tickers its mapping names (aliases left out)."""
    if set_folder is None:
        return set()
    tickers: set[str] = set()
    manifest, mapping = set_folder / MANIFEST_FILE, set_folder / MAPPING_FILE
    if mapping.is_file():
        tickers |= set(json.loads(mapping.read_text(encoding="utf-8")).get("tickers", {}).values())
    elif manifest.is_file():
        tickers |= set(json.loads(manifest.read_text(encoding="utf-8")).get("symbols", []))
    return tickers - {VIX_SYMBOL}  # the volatility index names no company and no period


def leak_summary(leaks: list[Leak], prompts: int) -> str:
    counts = Counter(leak.kind for leak in leaks)
    kinds = ", ".join(f"{kind} {counts[kind]}" for kind in LEAK_KINDS)
    leaking = len({(leak.event_id, leak.role) for leak in leaks})
    return f"{len(leaks)} leaks in {leaking} of {prompts} prompts ({kinds})"


def _run_set(run_folder: Path) -> Path | None:
    run = run_folder / RUN_FILE
    if not run.is_file():
        return None
    folder = Path(json.loads(run.read_text(encoding="utf-8")).get("set", ""))
    return folder if folder.is_dir() else None
