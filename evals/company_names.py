"""The company names of the bundled symbols: what the masker replaces and the prompt audit looks for.

A ticker is not the only way a prompt can name a company: news text says "Apple" or "Exxon Mobil". The table
holds, per bundled symbol, the names a reader would recognise it by (the legal name first, then the short
forms in common use), for the twelve stocks of ``aegis/data/market/us_stocks_daily_2012_2017.csv``.

Decisions that must not be silently changed: a symbol added to the bundled data gets its names here too, or the
masker leaves its name readable in news text and the audit does not see it (a test checks the table covers
the bundled symbols).
"""

from __future__ import annotations

COMPANY_NAMES: dict[str, tuple[str, ...]] = {
    "AAPL": ("Apple Inc.", "Apple"),
    "AMZN": ("Amazon.com, Inc.", "Amazon.com", "Amazon"),
    "BAC": ("Bank of America Corporation", "Bank of America", "BofA"),
    "CVX": ("Chevron Corporation", "Chevron"),
    "GOOG": ("Alphabet Inc.", "Alphabet", "Google"),
    "JNJ": ("Johnson & Johnson", "Johnson and Johnson"),
    "JPM": ("JPMorgan Chase & Co.", "JPMorgan Chase", "JPMorgan", "JP Morgan"),
    "KO": ("The Coca-Cola Company", "Coca-Cola", "Coca Cola", "Coke"),
    "MSFT": ("Microsoft Corporation", "Microsoft"),
    "PFE": ("Pfizer Inc.", "Pfizer"),
    "WMT": ("Walmart Inc.", "Wal-Mart Stores", "Walmart", "Wal-Mart"),
    "XOM": ("Exxon Mobil Corporation", "ExxonMobil", "Exxon Mobil", "Exxon"),
}


def company_names(symbol: str) -> tuple[str, ...]:
    """The names of `symbol`'s company, longest first (so a replacement never leaves a tail of a longer name)."""
    return tuple(sorted(COMPANY_NAMES.get(symbol, ()), key=len, reverse=True))
