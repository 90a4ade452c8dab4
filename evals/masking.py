"""Masked event sets: the same events with no ticker, company name, date or price level a model could recall.

`mask_set(folder, out)` writes, from a built set, a set in which
- every ticker becomes an alias ``STK-XXXX`` (letters from a keyed hash of the ticker and the set's key) and
  every company name (`evals.company_names`) the alias's ``Company XXXX``, in ids, symbols, labels, the
  manifest, the bots file and any news text;
- every date moves to a synthetic calendar: the whole set is shifted by the whole weeks that bring its first
  tick day into the week of `MASK_EPOCH` (Monday 2101-01-03), so weekdays, order and gaps are kept and no
  masked date falls in 1990-2030, the years `evals.prompt_audit` looks for; month-name dates and bare years in
  news text become ``[date]`` and ``[year]``;
- every stock's prices are rebased: open, high, low and close divided by the symbol's first close on the tape,
  times 100 (volumes and the VIX stay as they are: the posture thresholds read the VIX level).

The labels' returns are kept as they are (rebasing does not change a return), so the masked set is scored
exactly like the original. ``mapping.json`` beside the masked files says what each alias and fake date stands
for; nothing of it is written into the tape, which is all a role's prompt is made from.

Decisions that must not be silently changed:
- Deterministic: the same set and key give byte-identical files. The default key is derived from the set's
  name and data hash, so two sets alias the same ticker differently (no linking across sets).
- The order of the tape's lines is kept, so the masked run is the same run (same waves, same book); the
  original tickers' alphabetical order survives only as line order, never as text a role reads.
- An alias is letters only (no digit can read as a year or a date) and never equal to a known ticker.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from aegis.runtime.tape_bots import tape_bots_path
from evals.company_names import COMPANY_NAMES, company_names
from evals.set_folder import check_set_folder
from evals.sets import LABELS_FILE, MANIFEST_FILE, TAPE_FILE
from state.events import EventType
from tools.feeds.tape import VIX_SYMBOL

MAPPING_FILE = "mapping.json"
MASK_EPOCH = date(2101, 1, 3)  # a Monday: day 0 of the synthetic calendar
ALIAS_PREFIX = "STK-"
ALIAS_LETTERS = 4
REBASE_TO = 100.0
_PRICE_FIELDS = ("open", "high", "low", "close")
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ISO_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_MONTHS = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
MONTH_NAME_DATE = re.compile(
    rf"\b(?:\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTHS}(?:,?\s+\d{{4}})?|{_MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?"
    rf"|{_MONTHS}\s+\d{{4}})(?![\w])",
    re.IGNORECASE,
)
YEAR = re.compile(r"(?<![\w.])(?:199\d|20[0-2]\d|2030)(?![\w]|\.\d)")


class MaskingError(ValueError):
    """The set cannot be masked (one line saying why)."""


@dataclass(frozen=True, slots=True)
class Masker:
    """The set's mask: ticker aliases, name aliases, the calendar shift and each stock's rebasing factor."""

    aliases: dict[str, str]  # ticker -> alias
    shift: timedelta  # real date + shift = fake date
    factors: dict[str, float]  # ticker -> REBASE_TO / first close

    def alias_name(self, ticker: str) -> str:
        return f"Company {self.aliases[ticker].removeprefix(ALIAS_PREFIX)}"

    def day(self, real: date) -> date:
        return real + self.shift

    def text(self, value: str) -> str:
        """`value` with its ISO dates moved to the calendar, its company names and tickers aliased, and any
        other date or year in words replaced."""
        value = _ISO_DATE.sub(self._iso, value)
        for ticker in sorted(self.aliases, key=len, reverse=True):
            for name in company_names(ticker):
                value = re.sub(re.escape(name), self.alias_name(ticker), value, flags=re.IGNORECASE)
        value = _ticker_pattern(self.aliases).sub(lambda m: self.aliases[m[0]], value)
        value = MONTH_NAME_DATE.sub("[date]", value)
        return YEAR.sub("[year]", value)

    def _iso(self, match: re.Match[str]) -> str:
        try:
            real = date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            return "[date]"
        return self.day(real).isoformat()

    def walk(self, value: Any) -> Any:
        """Every string inside `value` (dicts, lists) masked; numbers as they are."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(k): self.walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.walk(v) for v in value]
        return value

    def event(self, line: dict[str, Any]) -> dict[str, Any]:
        """One tape line masked: strings everywhere, and the bar of a stock rebased."""
        symbols = line.get("symbols") or []
        masked: dict[str, Any] = self.walk(line)
        bar = masked.get("payload", {}).get("bar") if isinstance(masked.get("payload"), dict) else None
        if symbols and symbols[0] in self.factors and isinstance(bar, dict):
            factor = self.factors[symbols[0]]
            for name in _PRICE_FIELDS:
                if isinstance(bar.get(name), int | float):
                    bar[name] = bar[name] * factor
        return masked


def set_key(manifest: dict[str, Any]) -> str:
    """The default key of a set: from its name and the hash of the data it was built from."""
    data = manifest.get("data") or {}
    return hashlib.sha256(f"{manifest.get('name')}|{data.get('sha256')}".encode()).hexdigest()[:32]


def ticker_aliases(tickers: Iterable[str], key: str, avoid: Iterable[str] = ()) -> dict[str, str]:
    """Each ticker's alias: letters from HMAC-SHA256(key, ticker), never one that is a known ticker or taken."""
    taken = {f"{ALIAS_PREFIX}{t}" for t in avoid} | set(avoid)
    aliases: dict[str, str] = {}
    for ticker in sorted(set(tickers)):
        counter = 0
        while True:
            digest = hmac.new(key.encode(), f"{ticker}#{counter}".encode(), hashlib.sha256).digest()
            letters = "".join(_ALPHABET[b % len(_ALPHABET)] for b in digest[:ALIAS_LETTERS])
            alias = f"{ALIAS_PREFIX}{letters}"
            if alias not in taken and letters not in taken:
                break
            counter += 1
        taken.add(alias)
        aliases[ticker] = alias
    return aliases


def calendar_shift(first_day: date) -> timedelta:
    """The whole weeks that move `first_day` into the week starting `MASK_EPOCH` (weekday kept)."""
    return timedelta(days=-(-(MASK_EPOCH - first_day).days // 7) * 7)


def mask_set(folder: Path, out: Path, key: str | None = None) -> Path:
    """Write the masked copy of the set in `folder` to `out` (tape, labels, manifest, bots, mapping); `out`."""
    manifest = check_set_folder(folder)
    if manifest.get("masked"):
        raise MaskingError(f"{folder} is already a masked set")
    lines = [json.loads(line) for line in (folder / TAPE_FILE).read_text(encoding="utf-8").splitlines() if line]
    masker = _masker(lines, manifest, key or set_key(manifest))
    out.mkdir(parents=True, exist_ok=True)
    _write_lines(out / TAPE_FILE, (masker.event(line) for line in lines))
    labels = (folder / LABELS_FILE).read_text(encoding="utf-8").splitlines()
    _write_lines(out / LABELS_FILE, (masker.walk(json.loads(line)) for line in labels if line))
    masked_manifest = _manifest(masker, manifest, folder.name)
    (out / MANIFEST_FILE).write_text(json.dumps(masked_manifest, sort_keys=True, indent=1) + "\n", encoding="utf-8")
    bots = tape_bots_path(folder / TAPE_FILE)
    if bots.is_file():
        text = json.dumps(masker.walk(json.loads(bots.read_text(encoding="utf-8"))), indent=2) + "\n"
        tape_bots_path(out / TAPE_FILE).write_text(text, encoding="utf-8")
    mapping = _mapping(masker, lines, manifest, folder.name)
    (out / MAPPING_FILE).write_text(json.dumps(mapping, sort_keys=True, indent=1) + "\n", encoding="utf-8")
    return out


def _masker(lines: list[dict[str, Any]], manifest: dict[str, Any], key: str) -> Masker:
    tick = EventType.MARKET_TICK.value
    firsts: dict[str, float] = {}
    for line in lines:
        symbols = line.get("symbols") or []
        close = (line.get("payload") or {}).get("bar", {}).get("close")
        first_close = isinstance(close, int | float) and close > 0 and symbols and symbols[0] not in firsts
        if line.get("type") == tick and first_close and symbols[0] != VIX_SYMBOL:  # the VIX level is kept
            firsts[symbols[0]] = float(close)
    stocks = set(manifest.get("symbols") or []) | set(firsts)
    missing = sorted(stocks - set(firsts))
    if missing:
        raise MaskingError(f"cannot rebase {', '.join(missing)}: no positive close on the tape")
    if not lines:
        raise MaskingError("the tape is empty")
    first_day = date.fromisoformat(str(lines[0]["event_time"])[:10])
    aliases = ticker_aliases(stocks, key, avoid=set(COMPANY_NAMES) | stocks)
    return Masker(aliases, calendar_shift(first_day), {s: REBASE_TO / firsts[s] for s in stocks})


def _ticker_pattern(aliases: dict[str, str]) -> re.Pattern[str]:
    names = "|".join(re.escape(t) for t in sorted(aliases, key=len, reverse=True))
    return re.compile(rf"(?<![A-Za-z0-9])(?:{names})(?![A-Za-z0-9])") if names else re.compile(r"(?!)")


def _manifest(masker: Masker, manifest: dict[str, Any], name: str) -> dict[str, Any]:
    masked: dict[str, Any] = masker.walk({k: v for k, v in manifest.items() if k != "prices"})
    prices = manifest["prices"]
    masked["symbols"] = sorted(masker.aliases[s] for s in manifest["symbols"])
    masked["prices"] = {
        "dates": [masker.text(d) for d in prices["dates"]],
        "close": {
            masker.aliases[symbol]: [None if c is None else c * masker.factors[symbol] for c in closes]
            for symbol, closes in sorted(prices["close"].items(), key=lambda item: masker.aliases[item[0]])
        },
    }
    masked["name"] = f"{manifest.get('name', name)}-masked"
    masked["masked"] = {"epoch": MASK_EPOCH.isoformat(), "rebased_to": REBASE_TO, "mapping": MAPPING_FILE}
    return masked


def _mapping(masker: Masker, lines: list[dict[str, Any]], manifest: dict[str, Any], name: str) -> dict[str, Any]:
    days = sorted({str(line["event_time"])[:10] for line in lines})
    return {
        "set": manifest.get("name", name),
        "tickers": {alias: ticker for ticker, alias in sorted(masker.aliases.items())},
        "names": {masker.alias_name(t): COMPANY_NAMES[t][0] for t in sorted(masker.aliases) if t in COMPANY_NAMES},
        "shift_days": masker.shift.days,
        "dates": {masker.day(date.fromisoformat(d)).isoformat(): d for d in days},
        "rebase_factors": {masker.aliases[t]: f for t, f in sorted(masker.factors.items())},
    }


def _write_lines(path: Path, lines: Iterable[dict[str, Any]]) -> None:
    text = "".join(json.dumps(line, sort_keys=True, separators=(",", ":")) + "\n" for line in lines)
    path.write_text(text, encoding="utf-8")
