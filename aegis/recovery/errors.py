"""The failures of a backup or a restore, by kind; each message is the one line the operator reads."""

from __future__ import annotations


class RecoveryError(Exception):
    """Base of every backup and restore failure."""


class ToolMissingError(RecoveryError):
    """pg_dump, pg_restore or redis-cli is not installed here."""


class ServerUnreachableError(RecoveryError):
    """The server to back up from or restore into does not answer (or, for a Redis restore, still answers)."""


class VersionMismatchError(RecoveryError):
    """The client tool is older than the server, or than the pg_dump that wrote the backup."""


class BackupUnreadableError(RecoveryError):
    """The backup folder is missing, incomplete or was not written by `aegis backup`."""


class ToolFailedError(RecoveryError):
    """A client tool exited with an error not covered by the kinds above."""


class ServerRunningError(RecoveryError):
    """Redis still runs where its files are to be restored: it would load nothing and overwrite them."""
