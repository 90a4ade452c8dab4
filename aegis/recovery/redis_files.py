"""Redis: a backup of its append-only file (AOF), or an RDB snapshot when the AOF cannot be reached.

Why the AOF: the deployment runs Redis with `appendonly yes`, so the AOF is what Redis itself loads at start;
after a BGREWRITEAOF its folder holds one compact base file (an RDB preamble) plus the few writes since,
listed in a manifest, and a copy of that folder is exactly what a restored Redis needs. The copy needs the
folder on this machine (the server's `dir`, or `redis_dir` where a volume of it is mounted).

The fallback, `redis-cli --rdb`, asks the server for a snapshot over the network (the replication protocol):
no file access needed, but no writes after the snapshot, and a restore must turn it back into an AOF base
(a Redis with `appendonly yes` ignores dump.rdb when its AOF folder exists). Both are restored as an AOF
folder; the RDB file is also put in place for a Redis without the AOF.

Redis loads its files only at start: a restore needs the server stopped, and refuses to run while it answers.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import redis

from aegis.recovery.errors import BackupUnreadableError, RecoveryError, ServerRunningError, ServerUnreachableError
from aegis.recovery.tools import run_tool, tool_path

REWRITE_TIMEOUT_S = 600.0
RDB_TIMEOUT_S = 600.0
POLL_S = 0.05


@dataclass(frozen=True)
class RedisSnapshot:
    """What the backup's `redis/` folder holds and how the server named its files."""

    kind: Literal["aof", "rdb"]
    redis_version: str
    appenddirname: str = "appendonlydir"
    appendfilename: str = "appendonly.aof"
    dbfilename: str = "dump.rdb"

    @property
    def file(self) -> str:
        """The file or folder under `redis/` that holds the data."""
        return self.appenddirname if self.kind == "aof" else self.dbfilename


def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=3)


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}"


def _config(client: redis.Redis, name: str, default: str) -> str:
    found: dict[Any, Any] = dict(client.config_get(name))
    value = found.get(name, found.get(name.encode()))
    return str(value.decode() if isinstance(value, bytes) else value) if value else default


def snapshot(url: str, destination: Path, redis_dir: Path | None = None) -> RedisSnapshot:
    """Back up the Redis at `url` into `destination` (created): its AOF folder after a rewrite when that folder
    is reachable here (`redis_dir`, or the server's own `dir` when the server is on this machine's loopback),
    else an RDB snapshot through redis-cli. A `redis_dir` that holds no AOF is an error, not a fallback."""
    client = _client(url)
    try:
        try:
            aof_on = bool(client.info("persistence").get("aof_enabled"))
            version = str(client.info("server").get("redis_version", "unknown"))
            server_dir = Path(_config(client, "dir", "."))
            names = {
                "appenddirname": _config(client, "appenddirname", ""),
                "appendfilename": _config(client, "appendfilename", "appendonly.aof"),
                "dbfilename": _config(client, "dbfilename", "dump.rdb"),
            }
        except redis.ConnectionError as exc:
            raise ServerUnreachableError(f"cannot reach Redis at {_where(url)}: {exc}") from None
        folder = redis_dir if redis_dir is not None else (server_dir if _on_loopback(url) else None)
        manifest = _aof_manifest(folder, names, named=redis_dir is not None) if aof_on else None
        if redis_dir is not None and manifest is None:
            why = "its AOF is off" if not aof_on else f"{redis_dir} holds no AOF manifest"
            raise RecoveryError(
                f"no AOF to copy from the Redis at {_where(url)}: {why} (leave out --redis-dir for an RDB)"
            )
        destination.mkdir(parents=True, exist_ok=True)
        if manifest is not None:
            before = manifest.read_bytes()
            _rewrite(client)
            if manifest.read_bytes() == before:  # a rewrite always writes a new manifest: not this server's files
                raise RecoveryError(
                    f"{manifest.parent} is not the AOF of the Redis at {_where(url)}: a rewrite left it as it was"
                )
            _copy_aof(manifest.parent, destination / manifest.parent.name, names["appendfilename"])
            return RedisSnapshot("aof", version, **names)
    finally:
        client.close()
    _rdb(url, destination / names["dbfilename"])
    return RedisSnapshot("rdb", version, **{**names, "appenddirname": names["appenddirname"] or "appendonlydir"})


def _on_loopback(url: str) -> bool:
    """The server runs on this machine, so the `dir` it reports is a folder here (not merely one of the same name)."""
    parts = urlsplit(url)
    return parts.scheme == "unix" or (parts.hostname or "localhost") in {"localhost", "127.0.0.1", "::1"}


def _aof_manifest(folder: Path | None, names: dict[str, str], *, named: bool) -> Path | None:
    if folder is None or not names["appenddirname"]:
        return None  # no folder reachable, or a Redis before 7 (one append-only file, no manifest)
    manifest = folder / names["appenddirname"] / f"{names['appendfilename']}.manifest"
    try:
        return manifest if manifest.is_file() else None
    except PermissionError:
        if not named:
            return None  # the server's folder, not readable by this user: the RDB snapshot instead
        raise RecoveryError(f"cannot read {manifest}: permission denied (run as a user who may read it)") from None


def _rewrite(client: redis.Redis) -> None:
    """BGREWRITEAOF and wait for it: the AOF folder then holds a fresh base and a short increment."""
    deadline = time.monotonic() + REWRITE_TIMEOUT_S
    client.bgrewriteaof()
    while True:  # the server's own state, polled: there is no event to wait on across the network
        state: dict[str, Any] = client.info("persistence")
        if not state.get("aof_rewrite_in_progress") and not state.get("aof_rewrite_scheduled"):
            break
        if time.monotonic() > deadline:
            raise RecoveryError(f"Redis's AOF rewrite did not finish within {REWRITE_TIMEOUT_S:.0f} s")
        time.sleep(POLL_S)
    if state.get("aof_last_bgrewrite_status") != "ok":
        raise RecoveryError("Redis's AOF rewrite failed (see the Redis log); nothing was copied")


def _copy_aof(source: Path, target: Path, appendfilename: str) -> None:
    shutil.copytree(source, target)
    listed = _manifest_files(target / f"{appendfilename}.manifest")
    missing = [name for name in listed if not (target / name).is_file()]
    if missing:  # another rewrite replaced the files while they were copied
        shutil.rmtree(target)
        raise RecoveryError(f"Redis's AOF changed during the copy ({', '.join(missing)} gone): run the backup again")


def _manifest_files(manifest: Path) -> list[str]:
    names = []
    for line in manifest.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "file":
            names.append(fields[1])
    return names


def _rdb(url: str, file: Path) -> None:
    binary = tool_path("redis-cli")
    parts = urlsplit(url)
    command = [binary, "-h", parts.hostname or "localhost", "-p", str(parts.port or 6379)]
    if parts.username:
        command += ["--user", unquote(parts.username)]
    if parts.scheme == "rediss":
        command.append("--tls")
    env = {key: value for key, value in os.environ.items() if key != "REDISCLI_AUTH"}
    if parts.password:
        env["REDISCLI_AUTH"] = unquote(parts.password)  # never on the command line
    run_tool([*command, "--rdb", str(file)], env, RDB_TIMEOUT_S)


def restore_files(source: Path, snap: RedisSnapshot, redis_dir: Path, url: str | None) -> list[Path]:
    """Put the backup's files (`source`, its `redis/` folder) into the data folder of a STOPPED Redis;
    what they replace is moved aside (its paths returned). Start Redis afterwards: it loads them."""
    ensure_stopped(url)
    data = source / snap.file
    if not data.exists():
        raise BackupUnreadableError(f"the backup has no Redis data at {data}")
    redis_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    moved = []
    for name in (snap.appenddirname, snap.dbfilename):
        current = redis_dir / name
        if current.exists():
            aside = current.with_name(f"{name}.before-restore-{stamp}")
            current.rename(aside)
            moved.append(aside)
    aof = redis_dir / snap.appenddirname
    if snap.kind == "aof":
        shutil.copytree(data, aof)
    else:
        shutil.copy2(data, redis_dir / snap.dbfilename)
        aof.mkdir()
        base = f"{snap.appendfilename}.1.base.rdb"  # an RDB is a valid AOF base (Redis 7's multi-part AOF)
        shutil.copy2(data, aof / base)
        (aof / f"{snap.appendfilename}.manifest").write_text(f"file {base} seq 1 type b\n", encoding="utf-8")
    return moved


def ensure_stopped(url: str | None) -> None:
    """`ServerRunningError` when the Redis at `url` answers."""
    if url is not None and _answers(url):
        raise ServerRunningError(
            f"Redis at {_where(url)} is running: stop it before restoring its files (it loads them only at start)"
        )


def _answers(url: str) -> bool:
    client = _client(url)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()
