"""What each part of the shared SQL (`sql_controls`, `sql_bots`, `sql_rules`) needs from the store it is
mixed into: a connection, the writers' turn on a table, and the audit insert of `sql_store.SqlStore`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

from state.store.base import AuditEntry


class SqlPart(ABC):
    @abstractmethod
    def _use(self, *, transaction: bool = False) -> AbstractAsyncContextManager[Any]: ...

    @abstractmethod
    async def _take_turn(self, db: Any, table: str) -> None: ...

    @abstractmethod
    async def _insert_audit(self, db: Any, entries: Sequence[AuditEntry], at: datetime) -> None: ...
