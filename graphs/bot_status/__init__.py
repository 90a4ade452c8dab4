"""The bot-status flow: a BOT_STATUS event (a heartbeat, an error report) is judged by the rules."""

from graphs.bot_status.graph import build_bot_status_graph

__all__ = ["build_bot_status_graph"]
