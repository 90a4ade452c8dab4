"""The rebalancing flow: a REBALANCING_DUE event compares the bots' allocation with the optimiser's and
applies it only when the expected Sharpe ratio improves by at least 5 %."""

from graphs.rebalance.graph import build_rebalance_graph

__all__ = ["build_rebalance_graph"]
