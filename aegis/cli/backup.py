"""`aegis backup <folder>` / `aegis restore <folder>`: PostgreSQL (pg_dump / pg_restore) and Redis (its AOF).

The procedure, the choices (AOF over RDB) and what must be stopped are in `aegis.recovery` and the README.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from aegis.recovery.archive import restore_backup, take_backup
from aegis.settings import Settings

RedisDir = Annotated[
    Path | None,
    typer.Option(
        "--redis-dir",
        file_okay=False,
        help="Redis's data folder as seen from here (a mounted volume); default: its own `dir` if on loopback",
    ),
]
SkipRedis = Annotated[bool, typer.Option("--skip-redis", help="Leave Redis out")]


def backup(
    folder: Annotated[Path, typer.Argument(file_okay=False, help="A new folder for this backup")],
    redis_dir: RedisDir = None,
    skip_redis: SkipRedis = False,
) -> None:
    """Back up PostgreSQL (AEGIS_POSTGRES_URL, pg_dump -Fc) and Redis (AEGIS_REDIS_URL: its AOF after a rewrite,
    else an RDB snapshot through redis-cli)."""
    manifest = take_backup(Settings(), folder, redis_dir=redis_dir, with_redis=not skip_redis)
    console = Console()
    if manifest.postgres is not None:
        console.print(f"PostgreSQL {manifest.postgres.server_major}: {folder / 'postgres.dump'}")
    if manifest.redis is not None:
        console.print(f"Redis {manifest.redis.redis_version} ({manifest.redis.kind}): {folder / 'redis'}")
    console.print(f"backup complete: {folder}")


def restore(
    folder: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="A folder written by `aegis backup`")],
    redis_dir: Annotated[
        Path | None,
        typer.Option("--redis-dir", file_okay=False, help="The STOPPED Redis's data folder, where its files go"),
    ] = None,
    skip_redis: SkipRedis = False,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: the database's contents are replaced")] = False,
) -> None:
    """Restore a backup: PostgreSQL in place (pg_restore --clean --if-exists, one transaction; the database is
    created if it is gone), Redis's files into --redis-dir (start Redis afterwards)."""
    if not yes:
        raise typer.BadParameter("a restore replaces the database's contents: pass --yes to confirm")
    report = restore_backup(Settings(), folder, redis_dir=redis_dir, with_redis=not skip_redis)
    console = Console()
    if report.postgres_restored:
        console.print("PostgreSQL restored" + (" (database created)" if report.database_created else ""))
    if report.redis_restored:
        console.print(f"Redis files restored into {redis_dir}: start Redis now, it loads them")
    for path in report.moved_aside:
        console.print(f"kept the replaced files at {path}")
