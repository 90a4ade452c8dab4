"""The anomaly flow: an ANOMALY_DETECTED event is answered by the rules (stop the bot, block the symbol)."""

from graphs.anomaly.graph import build_anomaly_graph

__all__ = ["build_anomaly_graph"]
