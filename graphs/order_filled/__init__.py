"""The order-filled flow: a fill the execution venue reports is booked when it matches the book, and feeds
the failure tiers (the stop-loss streak); one that does not match stops new entries in its symbol."""

from graphs.order_filled.graph import build_order_filled_graph

__all__ = ["build_order_filled_graph"]
