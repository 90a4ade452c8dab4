"""How the `aegis` command line fails: one line on stderr, a traceback only when asked for.

This module owns turning a failure that escapes a command into what the operator reads and the exit code:
- an expected failure (a bad option or setting, an unreachable PostgreSQL or Redis, a data folder that
  cannot be written, bad input) prints ONE line that says what was wrong and, where it helps, what is
  available or what to do; exit code 2;
- anything else prints one line naming the exception plus "run with --debug for the traceback"; exit code 1;
- with `aegis --debug ...` (or AEGIS_DEBUG=1) every failure propagates unchanged, traceback included.

Expected failures are recognised by type (the registry `_EXPECTED`), never by parsing messages. A
`ValueError` counts as bad input: the code raises it for a value the user gave (a window too short, a tape
line that does not parse). It must never swallow a failure: whatever it catches, it reports.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeGuard

import psycopg
import redis.exceptions
import typer
import yaml
from pydantic import ValidationError
from pydantic_settings import SettingsError
from typer._click import Context
from typer._click.exceptions import MissingParameter, UsageError  # typer bundles its own click
from typer.core import TyperCommand, TyperGroup

from aegis.recovery.errors import RecoveryError
from state.bus.base import BusUnavailableError
from state.hot import HotStoreUnavailableError
from state.store.base import RecordNotFoundError, StoreUnavailableError

EXPECTED_FAILURE = 2
UNEXPECTED_FAILURE = 1
DEBUG_ENV = "AEGIS_DEBUG"
SETTINGS_PREFIX = "AEGIS_"

_PARAMS_KEY = "aegis.command_params"  # ctx.meta is shared by every context of one invocation
_DEFAULT_DATA_DIR = Path("data")


class AegisGroup(TyperGroup):
    """The root group: a failure escaping any command below it is reported by `explain` (unless --debug)."""

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort):
            raise  # a deliberate exit, or ^C: click handles them
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            line, code = explain(exc, _data_folders(ctx.meta.get(_PARAMS_KEY, {})))
            typer.echo(f"{_command_path(exc, ctx)}: {line}", err=True)
            raise typer.Exit(code) from None


class AegisCommand(TyperCommand):
    """A command whose parameters the failure report may read (to recognise the data folder)."""

    def invoke(self, ctx: Context) -> Any:
        ctx.meta[_PARAMS_KEY] = ctx.params
        return super().invoke(ctx)


def explain(exc: BaseException, data_folders: tuple[Path, ...] = ()) -> tuple[str, int]:
    """The one line that reports `exc`, and the exit code."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:  # a task group's failure: its first cause
        exc = exc.exceptions[0]
    if isinstance(exc, UsageError) and _is_settings_failure(exc.__cause__):
        exc = exc.__cause__  # a command turned the settings' failure into a bad option: report the setting
    elif isinstance(exc, UsageError):
        return _usage_problem(exc), exc.exit_code
    for kind, describe in _EXPECTED:
        if isinstance(exc, kind):
            line = describe(exc, data_folders)
            if line is not None:
                return line, EXPECTED_FAILURE
    text = _one_line(str(exc))
    return (
        f"unexpected {type(exc).__name__}{': ' + text if text else ''} (run with --debug for the traceback)",
        UNEXPECTED_FAILURE,
    )


# ---- the expected failures, by type (first match wins) -----------------------------------------


def _usage_problem(exc: UsageError) -> str:
    line = _one_line(exc.format_message())
    if exc.ctx is None or (isinstance(exc, typer.BadParameter) and not isinstance(exc, MissingParameter)):
        return line  # the message names the value and what it should be
    return f"{line} (see '{exc.ctx.command_path} --help')"


def _is_settings_failure(exc: BaseException | None) -> TypeGuard[ValidationError]:
    return isinstance(exc, ValidationError) and exc.title == "Settings"  # not an internal model's, or typer's


def _settings_problem(exc: ValidationError, _: tuple[Path, ...]) -> str | None:
    if not _is_settings_failure(exc):
        return None  # an internal model refused a value: not the operator's setting
    errors = exc.errors(include_url=False)
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"setting {_setting_name(first['loc'], os.environ)}: {_what_is_wrong(first)}{more}"


def _setting_name(loc: tuple[int | str, ...], env: Mapping[str, str]) -> str:
    """The environment variable that set the value at `loc` (or its enclosing one, for a JSON value);
    the dotted field name when the value came from a config file or an argument."""
    present = {name.upper() for name in env}
    for end in range(len(loc), 0, -1):
        name = SETTINGS_PREFIX + "__".join(str(part) for part in loc[:end]).upper()
        if name in present:
            return name
    return ".".join(str(part) for part in loc)


_NOT_A = {
    "float_parsing": "is not a number",
    "float_type": "is not a number",
    "int_parsing": "is not a whole number",
    "int_type": "is not a whole number",
    "int_from_float": "is not a whole number",
    "bool_parsing": "is not true or false",
    "bool_type": "is not true or false",
}


def _what_is_wrong(error: Mapping[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        return "no such setting"
    if error["type"] == "missing":
        return "is required"
    value = repr(error.get("input"))
    if error["type"] in _NOT_A:
        return f"{value} {_NOT_A[error['type']]}"
    message = str(error["msg"])
    if message.startswith("Input should"):  # pydantic's wording: "Input should be 'paper' or 'live'"
        return f"{value} should{message.removeprefix('Input should')}"
    return f"{value}: {message[:1].lower()}{message[1:]}"


def _settings_source_problem(exc: SettingsError, _: tuple[Path, ...]) -> str:
    cause = f": {_one_line(str(exc.__cause__))}" if exc.__cause__ is not None else ""
    return f"settings: {_one_line(str(exc))}{cause}"


def _config_file_problem(exc: yaml.YAMLError, _: tuple[Path, ...]) -> str:
    return f"config file is not valid YAML: {' '.join(line.strip() for line in str(exc).splitlines())}"


def _unreachable(hint: str) -> Callable[[Exception, tuple[Path, ...]], str]:
    def describe(exc: Exception, _: tuple[Path, ...]) -> str:
        return f"{_one_line(str(exc))}; {hint}"

    return describe


def _reach_postgres(exc: psycopg.OperationalError, _: tuple[Path, ...]) -> str:
    return f"cannot reach PostgreSQL: {_one_line(str(exc))}; check AEGIS_POSTGRES_URL"


def _reach_redis(exc: redis.exceptions.ConnectionError, _: tuple[Path, ...]) -> str:
    return f"cannot reach Redis: {_one_line(str(exc))}; check AEGIS_REDIS_URL"


def _file_problem(exc: OSError, data_folders: tuple[Path, ...]) -> str:
    reason = os.strerror(exc.errno) if exc.errno else (exc.strerror or str(exc) or type(exc).__name__)
    reason = reason[:1].lower() + reason[1:]
    if exc.filename is None:
        return _one_line(str(exc)) or reason
    path = Path(os.fsdecode(exc.filename))
    if isinstance(exc, FileExistsError) and path.is_file():
        reason = "a file is in the way of a folder"  # mkdir(parents=True) met a file where a folder goes
    where = path.absolute()
    folder = next((f for f in data_folders if where == f.absolute() or f.absolute() in where.parents), None)
    if folder is None:
        return f"cannot use {path}: {reason}"
    inside = "" if path == folder else f" ({path})"
    hint = "; free some space or choose another --data-dir" if exc.errno == errno.ENOSPC else ""
    return f"cannot write to data folder {folder}: {reason}{inside}{hint}"


def _first_line(exc: Exception, _: tuple[Path, ...]) -> str:
    return _one_line(str(exc)) or type(exc).__name__


_EXPECTED: tuple[tuple[type[Exception], Callable[[Any, tuple[Path, ...]], str | None]], ...] = (
    (ValidationError, _settings_problem),
    (SettingsError, _settings_source_problem),
    (yaml.YAMLError, _config_file_problem),
    (StoreUnavailableError, _first_line),
    (RecordNotFoundError, _first_line),  # an id the operator typed that names nothing
    (RecoveryError, _first_line),
    (HotStoreUnavailableError, _unreachable("is Redis running at AEGIS_REDIS_URL?")),
    (BusUnavailableError, _unreachable("is Redis running at AEGIS_REDIS_URL?")),
    (psycopg.OperationalError, _reach_postgres),
    (redis.exceptions.ConnectionError, _reach_redis),
    (OSError, _file_problem),
    (json.JSONDecodeError, lambda exc, _: f"not valid JSON: {exc}"),
    (ValueError, _first_line),
)


# ---- helpers -----------------------------------------------------------------------------------


def _command_path(exc: Exception, root: Context) -> str:
    if isinstance(exc, UsageError) and exc.ctx is not None:
        return exc.ctx.command_path  # the (sub)command whose arguments were wrong
    return " ".join(part for part in (root.command_path, root.invoked_subcommand) if part)


def _data_folders(params: Mapping[str, Any]) -> tuple[Path, ...]:
    """Where the failed command keeps its records: its --data-dir, else AEGIS_DATA_DIR, else `data`."""
    named = params.get("data_dir") or os.environ.get(f"{SETTINGS_PREFIX}DATA_DIR")
    return tuple(Path(p) for p in (named, _DEFAULT_DATA_DIR) if p)


def _one_line(text: str) -> str:
    return text.strip().split("\n", 1)[0].strip()
