"""What can be wrong with a user's price file: one error type per problem, each a one-line `ValueError`.

The command line reports any of them in one line with exit code 2 (`aegis.cli.errors`), so every message
names the file and, where there is one, the line (or row) and column, and says what was found.
"""

from __future__ import annotations

from tools.feeds.bundled import FeedError

__all__ = [
    "ClosesOnlyError",
    "DatesOutOfRangeError",
    "DuplicateBarsError",
    "EmptySourceError",
    "MissingColumnsError",
    "MixedFrequencyError",
    "NoPriceColumnsError",
    "NonNumericValueError",
    "SourceError",
    "UnknownFormatError",
    "UnknownTickersError",
    "UnreadableSourceError",
]


class SourceError(FeedError, ValueError):
    """A source file that cannot be imported as it is; the message says where and why, in one line."""


class MissingColumnsError(SourceError):
    pass


class ClosesOnlyError(SourceError):
    pass


class MixedFrequencyError(SourceError):
    pass


class DuplicateBarsError(SourceError):
    pass


class NonNumericValueError(SourceError):
    pass


class EmptySourceError(SourceError):
    pass


class UnknownFormatError(SourceError):
    pass


class UnreadableSourceError(SourceError):
    pass


class NoPriceColumnsError(SourceError):
    pass


class UnknownTickersError(SourceError):
    pass


class DatesOutOfRangeError(SourceError):
    pass
