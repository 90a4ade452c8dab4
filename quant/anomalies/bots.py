"""Bot anomaly rules, evaluated for every bot in one vectorised numpy pass.

This module owns the five bot rules, their thresholds (``BotThresholds``, defaults from the source
documents) and the struct-of-arrays input they read (``BotActivity``). The pass never loops over bots in
Python: trades are stored CSR-style (one flat array per field plus per-bot offsets), and each rule is a few
whole-array operations, so 10,000 bots cost a few milliseconds (``python -m evals.bench_quant.anomalies``).

Rules, with the comparison each uses (the severity ladders are fields of ``BotThresholds`` too):

- ``bot.trade_burst``: more than 20 trades in the last 10 minutes, i.e. trades stamped after
  ``now - 600 s`` (a trade exactly 600 s old is out; one stamped after ``now``, clock skew, is in).
  MEDIUM; more than 40 HIGH; more than 100 CRITICAL (a runaway order loop).
- ``bot.loss_streak``: 7 or more losing trades (P&L < 0; a scratch at exactly 0 is not a loss) among the
  bot's last 10 trades, or among all of them when it has fewer. 7-8 MEDIUM; 9 HIGH; 10 CRITICAL.
- ``bot.slippage``: mean adverse slippage of the last 10 trades (or of all, when fewer) above 0.5 %.
  MEDIUM; above 1 % HIGH; above 2 % CRITICAL. A single bad fill among good ones is diluted on purpose:
  the rule is about a bot whose fills are systematically poor.
- ``bot.api_error_rate``: failed / total API requests of 30 % or more, over whatever window the caller
  counted them in, once the bot made at least ``api_min_requests`` requests (default 1; raise it to ignore
  rates over a handful of calls). MEDIUM; 50 % HIGH; 90 % CRITICAL.
- ``bot.heartbeat_missing``: no heartbeat for 15 minutes or more (``now - last >= 900 s``). A bot never
  heard from (last heartbeat NaN) has been silent forever. HIGH (its positions are unmanaged);
  60 minutes CRITICAL.

"Last N trades" means by position: trades are stored oldest first, and callers pass each bot's recent
trades (at least the last ``max(lookbacks)`` and all of the burst window; older ones are harmless).

Pure: no I/O, no clock (``now_s`` is passed in), imports nothing outside ``quant.anomalies``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from quant.anomalies.severity import (
    BoolArray,
    Evidence,
    Finding,
    FloatArray,
    Ladder,
    LevelArray,
    Rule,
    RuleScan,
    Severity,
)

IntArray = npt.NDArray[np.int64]

_SEVERITIES = {int(s): s for s in Severity}


def _count(value: int, name: str, *, minimum: int) -> None:
    try:
        count = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
    if count < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {count}")


# Default severity ladders (see the module docstring); steps compare the way their rule's threshold does.
BURST_SEVERITY = Ladder(Severity.MEDIUM, ((40, Severity.HIGH), (100, Severity.CRITICAL)))
LOSS_SEVERITY = Ladder(Severity.MEDIUM, ((9, Severity.HIGH), (10, Severity.CRITICAL)))
SLIPPAGE_SEVERITY = Ladder(Severity.MEDIUM, ((1.0, Severity.HIGH), (2.0, Severity.CRITICAL)))
API_ERROR_SEVERITY = Ladder(Severity.MEDIUM, ((50.0, Severity.HIGH), (90.0, Severity.CRITICAL)))
HEARTBEAT_SEVERITY = Ladder(Severity.HIGH, ((3600.0, Severity.CRITICAL),))


@dataclass(frozen=True, slots=True)
class BotThresholds:
    """When each bot rule fires, and how badly. Field names say the comparison; units are in the names."""

    burst_trades_above: int = 20
    burst_window_s: float = 600.0
    burst_severity: Ladder = BURST_SEVERITY
    losses_at_least: int = 7
    loss_lookback_trades: int = 10
    loss_severity: Ladder = LOSS_SEVERITY
    slippage_above_pct: float = 0.5  # mean adverse slippage, percent of the reference price
    slippage_lookback_trades: int = 10
    slippage_severity: Ladder = SLIPPAGE_SEVERITY
    api_error_rate_at_least_pct: float = 30.0
    api_min_requests: int = 1
    api_error_severity: Ladder = API_ERROR_SEVERITY
    heartbeat_silence_at_least_s: float = 900.0
    heartbeat_severity: Ladder = HEARTBEAT_SEVERITY

    def __post_init__(self) -> None:
        _count(self.burst_trades_above, "burst_trades_above", minimum=0)
        for name in ("losses_at_least", "loss_lookback_trades", "slippage_lookback_trades", "api_min_requests"):
            _count(getattr(self, name), name, minimum=1)
        for name in (
            "burst_window_s",
            "slippage_above_pct",
            "api_error_rate_at_least_pct",
            "heartbeat_silence_at_least_s",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive finite number, got {value}")


@dataclass(frozen=True, slots=True)
class BotTrade:
    """One closed trade: when (epoch seconds), its realised P&L (account currency), its slippage (percent).

    Slippage is adverse slippage against the decision price in percent (0.3 = 0.3 % worse); negative is a
    price improvement.
    """

    time_s: float
    pnl: float
    slippage_pct: float


@dataclass(frozen=True, slots=True)
class BotRecord:
    """One bot's recent activity as plain records: the per-bot view, convenient to build and to read.

    ``last_heartbeat_s`` is epoch seconds, NaN if never heard from; the API counts cover whatever window
    the caller chose (the rate is their ratio).
    """

    bot_id: str
    trades: tuple[BotTrade, ...]  # oldest first
    last_heartbeat_s: float
    api_requests: int
    api_errors: int


@dataclass(frozen=True, slots=True)
class BotActivity:
    """The bot rules' input for ``n`` bots as a struct of arrays; trades are CSR (offsets + flat values).

    The trades of bot ``i`` are rows ``trade_offsets[i]:trade_offsets[i + 1]`` of the ``trade_*`` arrays,
    oldest first. Construction checks shapes, finiteness and ordering (``ValueError`` naming the field and
    the first bad index) and stores numpy arrays; treat them as read-only afterwards.
    """

    bot_ids: tuple[str, ...]
    trade_offsets: IntArray  # (n + 1,), starts at 0, non-decreasing, ends at the number of trades
    trade_time_s: FloatArray  # (trades,), epoch seconds
    trade_pnl: FloatArray  # (trades,), realised P&L in account currency; < 0 is a loss
    trade_slippage_pct: FloatArray  # (trades,), adverse slippage in percent
    last_heartbeat_s: FloatArray  # (n,), epoch seconds; NaN = never heard from
    api_requests: IntArray  # (n,), requests in the caller's window
    api_errors: IntArray  # (n,), failed requests among them

    def __post_init__(self) -> None:
        ids = tuple(self.bot_ids)
        n = len(ids)
        offsets = _integers(self.trade_offsets, "trade_offsets", n + 1)
        if offsets[0] != 0 or (np.diff(offsets) < 0).any():
            raise ValueError("trade_offsets must start at 0 and never decrease")
        m = int(offsets[-1])
        times = _finite(self.trade_time_s, "trade_time_s", m)
        pnl = _finite(self.trade_pnl, "trade_pnl", m)
        slippage = _finite(self.trade_slippage_pct, "trade_slippage_pct", m)
        out_of_order = np.diff(times) < 0
        boundaries = offsets[1:-1]
        out_of_order[boundaries[(boundaries > 0) & (boundaries < m)] - 1] = False  # a new bot starts over
        if out_of_order.any():
            index = int(np.argmax(out_of_order)) + 1
            bot = int(np.searchsorted(offsets, index, side="right")) - 1
            raise ValueError(f"trade_time_s must be oldest first within each bot; {ids[bot]!r} at index {index}")
        heartbeat = np.asarray(self.last_heartbeat_s, dtype=np.float64)
        if heartbeat.shape != (n,) or np.isinf(heartbeat).any():
            raise ValueError(f"last_heartbeat_s must be ({n},) finite or NaN, got shape {heartbeat.shape}")
        requests = _integers(self.api_requests, "api_requests", n)
        errors = _integers(self.api_errors, "api_errors", n)
        if (errors < 0).any() or (errors > requests).any():
            index = int(np.argmax((errors < 0) | (errors > requests)))
            raise ValueError(f"api_errors must be within 0..api_requests; {ids[index]!r} has {errors[index]}")
        for name, value in (
            ("bot_ids", ids),
            ("trade_offsets", offsets),
            ("trade_time_s", times),
            ("trade_pnl", pnl),
            ("trade_slippage_pct", slippage),
            ("last_heartbeat_s", heartbeat),
            ("api_requests", requests),
            ("api_errors", errors),
        ):
            object.__setattr__(self, name, value)

    @property
    def size(self) -> int:
        """Number of bots."""
        return len(self.bot_ids)

    @classmethod
    def from_records(cls, records: Sequence[BotRecord]) -> BotActivity:
        """Pack per-bot records into the array form the scan reads."""
        counts = np.fromiter((len(r.trades) for r in records), dtype=np.int64, count=len(records))
        offsets = np.zeros(len(records) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        trades = [t for r in records for t in r.trades]
        return cls(
            bot_ids=tuple(r.bot_id for r in records),
            trade_offsets=offsets,
            trade_time_s=np.array([t.time_s for t in trades], dtype=np.float64),
            trade_pnl=np.array([t.pnl for t in trades], dtype=np.float64),
            trade_slippage_pct=np.array([t.slippage_pct for t in trades], dtype=np.float64),
            last_heartbeat_s=np.array([r.last_heartbeat_s for r in records], dtype=np.float64),
            api_requests=np.array([r.api_requests for r in records], dtype=np.int64),
            api_errors=np.array([r.api_errors for r in records], dtype=np.int64),
        )


@dataclass(frozen=True, slots=True)
class BotScan:
    """Every bot rule over every bot at ``now_s``; each ``RuleScan`` is shaped ``(1, bots)``."""

    bot_ids: tuple[str, ...]
    now_s: float
    trade_burst: RuleScan
    loss_streak: RuleScan
    slippage: RuleScan
    api_errors: RuleScan
    heartbeat: RuleScan

    @property
    def rules(self) -> tuple[RuleScan, ...]:
        return (self.trade_burst, self.loss_streak, self.slippage, self.api_errors, self.heartbeat)

    def worst(self) -> LevelArray:
        """Highest severity level per bot, shape ``(bots,)``; 0 where no rule fired."""
        worst: LevelArray = np.stack([scan.level[0] for scan in self.rules]).max(axis=0)
        return worst

    def findings(self) -> list[Finding]:
        """Every fired rule, bot by bot (in input order), rules in the order of ``rules``."""
        scans = self.rules
        levels = np.stack([scan.level[0] for scan in scans], axis=1)  # (bots, rules)
        bots, rule_indices = np.nonzero(levels)
        values = np.stack([scan.value[0] for scan in scans], axis=1)[bots, rule_indices].tolist()
        bases = np.stack([scan.basis[0] for scan in scans], axis=1)[bots, rule_indices].tolist()
        severities = [_SEVERITIES[level] for level in levels[bots, rule_indices].tolist()]
        texts = [
            (scan.rule, scan.threshold, scan.fires_when, scan.unit, scan.window, scan.basis_label) for scan in scans
        ]
        findings: list[Finding] = []
        for bot, r, value, basis, severity in zip(
            bots.tolist(), rule_indices.tolist(), values, bases, severities, strict=True
        ):
            rule, threshold, fires_when, unit, window, basis_label = texts[r]
            evidence = Evidence(value, threshold, fires_when, unit, window, basis, basis_label)
            findings.append(Finding(rule, self.bot_ids[bot], self.now_s, severity, evidence))
        return findings


def scan_bots(activity: BotActivity, *, now_s: float, thresholds: BotThresholds = BotThresholds()) -> BotScan:
    """Evaluate the five bot rules for every bot of ``activity`` at ``now_s`` (epoch seconds)."""
    if not math.isfinite(now_s):
        raise ValueError(f"now_s must be finite, got {now_s}")
    a, p, n = activity, thresholds, activity.size
    start, end = a.trade_offsets[:-1], a.trade_offsets[1:]
    trades = end - start

    # Trades are sorted within each bot, so the recent ones form a suffix; a running count gives its length.
    recent = a.trade_time_s > now_s - p.burst_window_s
    running = np.zeros(len(recent) + 1, dtype=np.int64)
    np.cumsum(recent, out=running[1:])
    burst = (running[end] - running[start]).astype(np.float64)

    lookback = max(p.loss_lookback_trades, p.slippage_lookback_trades)
    index, exists = _last_trades(start, end, lookback)
    cut = lookback - p.loss_lookback_trades
    losses = (_gather(a.trade_pnl, index[:, cut:], exists[:, cut:]) < 0.0).sum(axis=1).astype(np.float64)
    loss_considered = np.minimum(trades, p.loss_lookback_trades).astype(np.float64)
    cut = lookback - p.slippage_lookback_trades
    slippage_sum = _gather(a.trade_slippage_pct, index[:, cut:], exists[:, cut:]).sum(axis=1)
    slippage_considered = np.minimum(trades, p.slippage_lookback_trades).astype(np.float64)

    requests = a.api_requests.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_slippage = slippage_sum / slippage_considered  # NaN for a bot without trades
        error_rate = np.where(a.api_requests >= p.api_min_requests, 100.0 * a.api_errors / requests, np.nan)
    silence = np.where(np.isnan(a.last_heartbeat_s), np.inf, now_s - a.last_heartbeat_s)

    at = np.array([now_s], dtype=np.float64)
    with np.errstate(invalid="ignore"):  # NaN values compare false: an undefined value never fires
        return BotScan(
            bot_ids=a.bot_ids,
            now_s=now_s,
            trade_burst=_rule_scan(
                Rule.TRADE_BURST, a.bot_ids, at, burst, burst > p.burst_trades_above, p.burst_severity,
                strict=True, basis=np.full(n, p.burst_window_s), threshold=p.burst_trades_above, unit="trades",
                window=f"trades stamped after now - {p.burst_window_s:g} s", basis_label="window (s)",
            ),
            loss_streak=_rule_scan(
                Rule.LOSS_STREAK, a.bot_ids, at, losses, losses >= p.losses_at_least, p.loss_severity,
                strict=False, basis=loss_considered, threshold=p.losses_at_least, unit="losing trades",
                window=f"last {p.loss_lookback_trades} trades", basis_label="trades considered",
            ),
            slippage=_rule_scan(
                Rule.SLIPPAGE, a.bot_ids, at, mean_slippage, mean_slippage > p.slippage_above_pct,
                p.slippage_severity, strict=True, basis=slippage_considered, threshold=p.slippage_above_pct,
                unit="% mean adverse slippage", window=f"last {p.slippage_lookback_trades} trades",
                basis_label="trades considered",
            ),
            api_errors=_rule_scan(
                Rule.API_ERRORS, a.bot_ids, at, error_rate, error_rate >= p.api_error_rate_at_least_pct,
                p.api_error_severity, strict=False, basis=requests, threshold=p.api_error_rate_at_least_pct,
                unit="% of requests failed", window="the caller's request-count window", basis_label="requests",
            ),
            heartbeat=_rule_scan(
                Rule.HEARTBEAT, a.bot_ids, at, silence, silence >= p.heartbeat_silence_at_least_s,
                p.heartbeat_severity, strict=False, basis=a.last_heartbeat_s,
                threshold=p.heartbeat_silence_at_least_s, unit="s without a heartbeat",
                window="since the last heartbeat", basis_label="last heartbeat (epoch s)",
            ),
        )  # fmt: skip


def _rule_scan(
    rule: Rule,
    ids: tuple[str, ...],
    at: FloatArray,
    value: FloatArray,
    fired: BoolArray,
    ladder: Ladder,
    *,
    strict: bool,
    basis: FloatArray,
    threshold: float,
    unit: str,
    window: str,
    basis_label: str,
) -> RuleScan:
    n = len(ids)
    return RuleScan(
        rule=rule,
        subjects=ids,
        at_s=at,
        level=ladder.grade(value, fired, strict=strict).reshape(1, n),
        value=value.reshape(1, n),
        basis=basis.astype(np.float64).reshape(1, n),
        threshold=float(threshold),
        strict=strict,
        on_magnitude=False,
        unit=unit,
        window=window,
        basis_label=basis_label,
    )


def _last_trades(start: IntArray, end: IntArray, k: int) -> tuple[IntArray, BoolArray]:
    """Flat indices of each bot's last ``k`` trades, shape ``(bots, k)``, oldest first, and which exist."""
    index = end[:, np.newaxis] - k + np.arange(k, dtype=np.int64)
    valid = index >= start[:, np.newaxis]
    return np.where(valid, index, 0), valid


def _gather(values: FloatArray, index: IntArray, valid: BoolArray) -> FloatArray:
    """``values[index]`` where ``valid``, 0 elsewhere (so sums and ``< 0`` tests ignore missing trades)."""
    if values.size == 0:
        return np.zeros(index.shape, dtype=np.float64)
    return np.where(valid, values[index], 0.0)


def _integers(values: npt.ArrayLike, name: str, length: int) -> IntArray:
    raw = np.asarray(values)
    if raw.shape != (length,):
        raise ValueError(f"{name} must have shape ({length},), got {raw.shape}")
    if raw.size and not np.issubdtype(raw.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, got dtype {raw.dtype}")
    return raw.astype(np.int64, copy=False)


def _finite(values: npt.ArrayLike, name: str, length: int) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (length,):
        raise ValueError(f"{name} must have shape ({length},) to match trade_offsets, got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} has a non-finite value at index {int(np.argmax(~np.isfinite(array)))}")
    return array
