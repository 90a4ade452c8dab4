"""A backup folder: what `aegis backup` writes and `aegis restore` reads.

    <folder>/manifest.json   what was taken, when, from which server versions
    <folder>/postgres.dump   pg_dump's custom format (when PostgreSQL is configured)
    <folder>/redis/          the AOF folder, or dump.rdb (when Redis is configured)

The manifest is written last: a folder without one is an interrupted backup, and a restore refuses it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aegis.recovery import postgres
from aegis.recovery.errors import BackupUnreadableError, RecoveryError
from aegis.recovery.redis_files import RedisSnapshot, ensure_stopped, restore_files, snapshot
from aegis.settings import Settings

MANIFEST = "manifest.json"
POSTGRES_DUMP = "postgres.dump"
REDIS_FOLDER = "redis"
FORMAT = 1


@dataclass(frozen=True)
class Manifest:
    created_at: str
    redis_prefix: str
    postgres: postgres.PostgresDump | None = None
    redis: RedisSnapshot | None = None
    format: int = FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        path = folder / MANIFEST
        if not path.is_file():
            raise BackupUnreadableError(f"{folder} is not a complete backup: no {MANIFEST} (an interrupted backup?)")
        try:
            raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            if raw.get("format") != FORMAT:
                raise BackupUnreadableError(f"{path}: backup format {raw.get('format')!r}, this aegis reads {FORMAT}")
            return cls(
                created_at=str(raw["created_at"]),
                redis_prefix=str(raw["redis_prefix"]),
                postgres=postgres.PostgresDump(**raw["postgres"]) if raw.get("postgres") else None,
                redis=RedisSnapshot(**raw["redis"]) if raw.get("redis") else None,
            )
        except (ValueError, KeyError, TypeError) as exc:
            if isinstance(exc, BackupUnreadableError):
                raise
            raise BackupUnreadableError(f"{path} is not a backup manifest: {exc}") from None


@dataclass
class RestoreReport:
    postgres_restored: bool = False
    database_created: bool = False
    redis_restored: bool = False
    moved_aside: list[Path] = field(default_factory=list)


def take_backup(
    settings: Settings, folder: Path, *, redis_dir: Path | None = None, with_redis: bool = True
) -> Manifest:
    """Back up the configured PostgreSQL and Redis into `folder` (which must not hold a backup already)."""
    if not settings.postgres_url and not (with_redis and settings.redis_url):
        raise RecoveryError(
            "nothing to back up: neither AEGIS_POSTGRES_URL nor AEGIS_REDIS_URL is set "
            f"(the embedded stores are files in {settings.data_dir}: copy the folder while nothing runs)"
        )
    if folder.exists() and any(folder.iterdir()):
        raise RecoveryError(f"{folder} is not empty: a backup goes into a new folder")
    folder.mkdir(parents=True, exist_ok=True)
    dumped = postgres.dump(settings.postgres_url, folder / POSTGRES_DUMP) if settings.postgres_url else None
    snap = snapshot(settings.redis_url, folder / REDIS_FOLDER, redis_dir) if with_redis and settings.redis_url else None
    manifest = Manifest(
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        redis_prefix=settings.redis_prefix,
        postgres=dumped,
        redis=snap,
    )
    (folder / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")
    return manifest


def restore_backup(
    settings: Settings, folder: Path, *, redis_dir: Path | None = None, with_redis: bool = True
) -> RestoreReport:
    """Restore PostgreSQL (online) and put Redis's files into `redis_dir` (Redis stopped)."""
    manifest = Manifest.read(folder)
    report = RestoreReport()
    restore_redis = with_redis and manifest.redis is not None
    if restore_redis and redis_dir is None:
        raise RecoveryError("the backup holds Redis data: name the stopped Redis's data folder with --redis-dir")
    if restore_redis:
        ensure_stopped(settings.redis_url)  # before PostgreSQL is touched: all or nothing of what can be checked
    if manifest.postgres is not None:
        if not settings.postgres_url:
            raise RecoveryError("the backup holds a PostgreSQL dump: set AEGIS_POSTGRES_URL to the database to restore")
        report.database_created = postgres.restore(
            settings.postgres_url, folder / POSTGRES_DUMP, manifest.postgres.pg_dump_major
        )
        report.postgres_restored = True
    if restore_redis and manifest.redis is not None and redis_dir is not None:
        report.moved_aside = restore_files(folder / REDIS_FOLDER, manifest.redis, redis_dir, settings.redis_url)
        report.redis_restored = True
    return report
