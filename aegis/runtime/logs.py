"""Where the process's log goes and in what form: configured once, at the command line's entry.

- A terminal gets human-readable lines; anything else (a pipe, a container's log, a file) gets JSON lines,
  one object each (`aegis.runtime.log_format`). `LogConfig.format` forces either. The lines go to standard
  error, and that is the stream judged: `aegis status | jq` still logs human text to the terminal.
- Every line carries its category (the status document's seven), and the event and correlation ids of the
  session that wrote it (`aegis.runtime.log_context`).
- `LogConfig.file` adds a JSON file, rotated by size (`max_bytes`, `backups` kept).
- `log_to_file` moves the terminal's lines to a file while a live view owns the terminal (`aegis run`);
  `logging_to_file` does it for the length of a block (`aegis backtest --bots`).
- Nothing reaches a line unredacted (`aegis.runtime.redaction`).

Why python-json-logger rather than structlog: every module already logs through the standard `logging`
module (`logging.getLogger(__name__)`), and the store, the flows and the adapters must keep doing so
(`state` and `tools` import nothing of `aegis`). python-json-logger is one `logging.Formatter`: the JSON
lines, the categories, the context ids and the redaction all plug into the standard handlers without
changing any call site or adding a second logging API. It is also what the source's status document used.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Literal, TextIO

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aegis.runtime.log_format import ConsoleFormatter, ContextFilter, json_formatter
from aegis.runtime.redaction import REDACTOR, RedactingFormatter

LogFormat = Literal["auto", "json", "console"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
_OURS = "_aegis_handler"  # marks the handlers this module installed, so configuring again replaces them


class LogConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: LogFormat = Field(
        "auto", description="auto: human-readable on a terminal, JSON lines otherwise; json or console to force"
    )
    level: LogLevel = Field("INFO", description="The least severe level written")
    file: Path | None = Field(None, description="Also write JSON lines to this file, rotated by size")
    max_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="A log file is rotated past this size")
    backups: int = Field(5, ge=0, description="Rotated log files kept (aegis.log.1 ... aegis.log.N)")

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class _Stderr(logging.StreamHandler[TextIO]):
    """The standard error of the moment (a test runner swaps it), not the one seen when configured."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def wants_json(config: LogConfig, stream: TextIO) -> bool:
    if config.format != "auto":
        return config.format == "json"
    isatty = getattr(stream, "isatty", None)
    return not (callable(isatty) and isatty())


def configure_logging(config: LogConfig, *, stream: TextIO | None = None) -> None:
    """Install the process's handlers on the root logger (replacing the ones installed before): the terminal
    (`stream`, default the standard error of the moment) and, with `config.file`, a rotated JSON file."""
    root = logging.getLogger()
    _remove_ours(root)
    handler: logging.Handler = _Stderr() if stream is None else logging.StreamHandler(stream)
    json_lines = wants_json(config, stream or sys.stderr)
    _install(root, handler, json_lines)
    if config.file is not None:
        _install(root, _rotating(config.file, config.max_bytes, config.backups), True)
    root.setLevel(config.level)


def log_to_file(path: Path, level: int = logging.INFO, *, max_bytes: int = 10 * 1024 * 1024, backups: int = 5) -> None:
    """Send the log (alerts included) to `path` instead of the terminal, as JSON lines, appending across runs
    and rotated past `max_bytes`: for the rest of the process (`aegis run`'s live view owns the terminal)."""
    root = logging.getLogger()
    for handler in _terminal_handlers(root):
        root.removeHandler(handler)
    _install(root, _rotating(path, max_bytes, backups), True)
    root.setLevel(min(root.level, level) if root.level != logging.NOTSET else level)


@contextmanager
def logging_to_file(
    path: Path, level: int = logging.INFO, *, max_bytes: int = 10 * 1024 * 1024, backups: int = 5
) -> Iterator[None]:
    """`log_to_file` while the block runs; then the terminal's handlers and the level are back."""
    root = logging.getLogger()
    terminal, saved = _terminal_handlers(root), root.level
    for handler in terminal:
        root.removeHandler(handler)
    handler = _rotating(path, max_bytes, backups)
    _install(root, handler, True)
    root.setLevel(min(saved, level) if saved != logging.NOTSET else level)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()
        for held in terminal:
            root.addHandler(held)
        root.setLevel(saved)


def _terminal_handlers(root: logging.Logger) -> list[logging.Handler]:
    return [h for h in root.handlers if getattr(h, _OURS, False) and not isinstance(h, logging.FileHandler)]


def _rotating(path: Path, max_bytes: int, backups: int) -> RotatingFileHandler:
    path.parent.mkdir(parents=True, exist_ok=True)
    return RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")


def _install(root: logging.Logger, handler: logging.Handler, json_lines: bool) -> None:
    inner = json_formatter() if json_lines else ConsoleFormatter()
    handler.setFormatter(RedactingFormatter(inner, REDACTOR))
    handler.addFilter(ContextFilter())
    setattr(handler, _OURS, True)
    root.addHandler(handler)


def _remove_ours(root: logging.Logger) -> None:
    for handler in list(root.handlers):
        if getattr(handler, _OURS, False):
            root.removeHandler(handler)
            handler.close()
