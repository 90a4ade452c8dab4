"""Schema migrations: the numbered SQL files in `migrations/` and the runner that applies each one once.

This module owns finding `NNNN_name.sql` files, splitting them into statements and recording every applied
version in `schema_migrations`, so running the migrations twice is a no-op. It reaches a database only
through `SqlExecutor`, which each store implements for its driver (`?` placeholders for SQLite, `%s` for
psycopg).

Decisions that must not be silently changed:
- A migration runs in one transaction together with the row that records it: it is applied whole or not
  at all. An applied file is never edited; a schema change is a new file with the next number.
- The runner holds SQL for `schema_migrations` only; every other table belongs to the migration files.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from state.store.base import MigrationError

__all__ = [
    "MIGRATIONS_DIR",
    "SCHEMA_MIGRATIONS_DDL",
    "Migration",
    "SqlExecutor",
    "apply_migrations",
    "load_migrations",
    "split_statements",
]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

# Also the first statement of 0001_init.sql; the runner needs the table before it can read it.
SCHEMA_MIGRATIONS_DDL = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
)

_FILE_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


class SqlExecutor(Protocol):
    """The few things the runner needs from a driver's connection."""

    @property
    def placeholder(self) -> str:
        """The driver's parameter marker: "?" (sqlite3) or "%s" (psycopg)."""
        ...

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return the number of rows it changed. No params: no placeholder parsing."""
        ...

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def transaction(self) -> AbstractAsyncContextManager[None]:
        """Commit on normal exit, roll back on an exception."""
        ...


def split_statements(sql: str) -> tuple[str, ...]:
    """Split a migration file into statements: `--` comments dropped, split on `;`, blanks skipped.

    Deliberately simple: migration files must not put `;` or `--` inside string literals.
    """
    without_comments = "\n".join(line.split("--", 1)[0] for line in sql.splitlines())
    return tuple(" ".join(part.split()) for part in without_comments.split(";") if part.strip())


def load_migrations(directory: Path = MIGRATIONS_DIR) -> tuple[Migration, ...]:
    """Every migration file of `directory`, by version. Raises `MigrationError` on a malformed set."""
    migrations: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path}: migration files are named NNNN_name.sql")
        statements = split_statements(path.read_text(encoding="utf-8"))
        if not statements:
            raise MigrationError(f"{path}: holds no statement")
        migrations.append(Migration(int(match["version"]), match["name"], statements))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"{directory}: two migration files share a version number: {versions}")
    return tuple(migrations)


async def apply_migrations(
    db: SqlExecutor, applied_at: datetime, migrations: Sequence[Migration] | None = None
) -> list[int]:
    """Apply, in version order, each migration not yet recorded in `schema_migrations`.

    Returns the versions applied by this call (empty when the schema is up to date). `applied_at` is
    recorded in UTC (ISO-8601); callers pass their injected clock's time.
    """
    if applied_at.tzinfo is None:
        raise MigrationError("applied_at must be timezone-aware")
    # Reading the files happens in a worker thread: callers run on an event loop.
    available = await asyncio.to_thread(load_migrations) if migrations is None else tuple(migrations)
    async with db.transaction():
        await db.execute(SCHEMA_MIGRATIONS_DDL)
    rows = await db.fetch_all("SELECT version FROM schema_migrations")
    done = {int(row[0]) for row in rows}
    p = db.placeholder
    record = (
        f"INSERT INTO schema_migrations (version, name, applied_at) VALUES ({p}, {p}, {p}) "
        "ON CONFLICT (version) DO NOTHING"
    )
    applied: list[int] = []
    for migration in sorted(available, key=lambda m: m.version):
        if migration.version in done:
            continue
        try:
            async with db.transaction():
                for statement in migration.statements:
                    await db.execute(statement)
                stamp = applied_at.astimezone(UTC).isoformat()
                await db.execute(record, (migration.version, migration.name, stamp))
        except MigrationError:
            raise
        except Exception as exc:  # a driver error of any kind: name the migration, keep the cause
            raise MigrationError(f"migration {migration.version:04d}_{migration.name} failed: {exc}") from exc
        applied.append(migration.version)
    return applied
