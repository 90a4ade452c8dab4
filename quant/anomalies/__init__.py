"""Anomaly detection for bots and markets: rules that fire findings with a severity and their evidence.

This package owns the anomaly rules and nothing that acts on them (stopping a bot is
``quant.circuit_breaker``'s or the caller's decision). Every rule is a threshold from the source documents,
a field of a frozen thresholds dataclass, evaluated over many subjects at once with numpy:

- ``bots``: trade bursts, loss streaks, slippage, API error rates, missing heartbeats (``scan_bots``);
- ``markets``: one-minute price moves, volume spikes, extreme funding, order-book imbalance;
- ``severity``: the shared vocabulary (``Severity``, ``Rule``, ``Ladder``, ``Evidence``, ``Finding``,
  ``RuleScan``).

Pure: no I/O, no clock (times are passed in), imports nothing from the project outside ``quant``.
"""

from quant.anomalies.bots import BotActivity, BotRecord, BotScan, BotThresholds, BotTrade, scan_bots
from quant.anomalies.markets import (
    MarketThresholds,
    scan_book_imbalance,
    scan_funding,
    scan_price_moves,
    scan_volume_spikes,
)
from quant.anomalies.severity import Evidence, Finding, Ladder, Rule, RuleScan, Severity

__all__ = [
    "BotActivity",
    "BotRecord",
    "BotScan",
    "BotThresholds",
    "BotTrade",
    "Evidence",
    "Finding",
    "Ladder",
    "MarketThresholds",
    "Rule",
    "RuleScan",
    "Severity",
    "scan_book_imbalance",
    "scan_bots",
    "scan_funding",
    "scan_price_moves",
    "scan_volume_spikes",
]
