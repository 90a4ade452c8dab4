"""PostgreSQL: `pg_dump -Fc` of the whole database (records, controls, checkpoints) and `pg_restore --clean
--if-exists` into a database that is created first when it is gone.

The restore runs in one transaction (`--single-transaction`): it lands whole or not at all. Objects are
owned by the restoring role (`--no-owner`), so a dump restores into another cluster whose roles differ.
The client must be at least the server's major version (pg_dump refuses an older client), and pg_restore at
least the pg_dump that wrote the file: both are checked first, so the error names the versions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from aegis.recovery.errors import ServerUnreachableError, ToolFailedError, VersionMismatchError
from aegis.recovery.tools import major_version, run_tool, tool_path

DUMP_TIMEOUT_S = 3600.0
MAINTENANCE_DATABASE = "postgres"


@dataclass(frozen=True)
class PostgresTarget:
    """A database as the client tools reach it: a conninfo without the password (which goes to PGPASSWORD)."""

    conninfo: str
    password: str | None
    database: str
    where: str  # host:port/database, for messages (never the password)

    @classmethod
    def from_url(cls, url: str) -> PostgresTarget:
        params = {key: str(value) for key, value in conninfo_to_dict(url).items()}
        password = params.pop("password", None)
        database = params.get("dbname") or params.get("user") or os.environ.get("USER", "postgres")
        where = f"{params.get('host', 'localhost')}:{params.get('port', '5432')}/{database}"
        return cls(make_conninfo(**params), password, database, where)

    def with_database(self, database: str) -> PostgresTarget:
        params = {key: str(value) for key, value in conninfo_to_dict(self.conninfo).items()} | {"dbname": database}
        server = self.where.rsplit("/", 1)[0]
        return PostgresTarget(make_conninfo(**params), self.password, database, f"{server}/{database}")

    def tool_env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        return env

    def connect(self) -> psycopg.Connection[tuple[object, ...]]:
        try:
            return psycopg.connect(self.conninfo, password=self.password, connect_timeout=5, autocommit=True)
        except psycopg.OperationalError as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ServerUnreachableError(f"cannot reach PostgreSQL at {self.where}: {reason}") from None


@dataclass(frozen=True)
class PostgresDump:
    server_major: int
    pg_dump_major: int


def server_major(target: PostgresTarget) -> int:
    with target.connect() as connection:
        row = connection.execute("SHOW server_version_num").fetchone()
    return int(str(row[0])) // 10_000 if row else 0


def client_major(binary: str) -> int:
    done = run_tool([binary, "--version"], os.environ, timeout_s=30)
    return major_version(done.stdout.strip()) or 0


def dump(url: str, path: Path) -> PostgresDump:
    """Write the database at `url` to `path` (custom format); the file appears only once complete."""
    binary = tool_path("pg_dump")
    target = PostgresTarget.from_url(url)
    server, client = server_major(target), client_major(binary)
    if client < server:
        raise VersionMismatchError(
            f"pg_dump {client} cannot dump PostgreSQL {server} at {target.where}: "
            f"use a pg_dump of version {server} or newer"
        )
    partial = path.with_name(path.name + ".partial")
    command = [binary, "--format=custom", f"--file={partial}", f"--dbname={target.conninfo}"]
    try:
        run_tool(command, target.tool_env(), DUMP_TIMEOUT_S)
    except ToolFailedError:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(path)
    return PostgresDump(server_major=server, pg_dump_major=client)


def restore(url: str, path: Path, written_by_major: int | None) -> bool:
    """Restore `path` into the database at `url`, replacing what it holds; True when the database had to be
    created (it was dropped or never existed)."""
    binary = tool_path("pg_restore")
    client = client_major(binary)
    if written_by_major is not None and client < written_by_major:
        raise VersionMismatchError(
            f"pg_restore {client} cannot read a dump written by pg_dump {written_by_major}: "
            f"use a pg_restore of version {written_by_major} or newer"
        )
    target = PostgresTarget.from_url(url)
    created = _create_if_missing(target)
    command = [
        binary,
        "--clean",
        "--if-exists",
        "--no-owner",
        "--single-transaction",
        f"--dbname={target.conninfo}",
        str(path),
    ]
    try:
        run_tool(command, target.tool_env(), DUMP_TIMEOUT_S)
    except ToolFailedError as exc:
        if "unsupported version" in str(exc):
            raise VersionMismatchError(f"{exc}: the dump was written by a newer pg_dump") from None
        raise
    return created


def _create_if_missing(target: PostgresTarget) -> bool:
    maintenance = target.with_database(MAINTENANCE_DATABASE)
    with maintenance.connect() as connection:
        found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (target.database,)).fetchone()
        if found is None:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(target.database)))
    return found is None
