"""How a long eval command shows it is working: a progress bar on a terminal, a line every few seconds elsewhere
(CI logs, pipes), where a bar would print nothing until the end."""

from __future__ import annotations

import time
from types import TracebackType
from typing import Self

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class Steps:
    """`total` steps of `label`, advanced one by one; `describe` names the step under way. Not `shown`: silent."""

    def __init__(
        self, label: str, total: int, *, shown: bool = True, console: Console | None = None, every_s: float = 5.0
    ) -> None:
        self._shown = shown
        self._label = label
        self._total = total
        self._console = console or Console()
        self._every_s = every_s
        self._done = 0
        self._step = ""
        self._started = self._said = time.monotonic()
        self._bar: Progress | None = None
        if shown and self._console.is_terminal:
            columns = (
                TextColumn("[bold]{task.description}[/]"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
            )
            self._bar = Progress(*columns, console=self._console, transient=False)
            self._task = self._bar.add_task(label, total=total)

    def describe(self, step: str) -> None:
        self._step = step
        if self._bar is not None:
            self._bar.update(self._task, description=f"{self._label}: {step}")
        elif self._shown:
            self._say()

    def advance(self, steps: int = 1) -> None:
        self._done += steps
        if self._bar is not None:
            self._bar.advance(self._task, steps)
        elif self._shown and time.monotonic() - self._said >= self._every_s:
            self._say()

    def _say(self) -> None:
        self._said = time.monotonic()
        step = f" ({self._step})" if self._step else ""
        self._console.print(
            f"{self._label}{step}: {self._done} of {self._total}, {self._said - self._started:.0f} s",
            highlight=False,
            soft_wrap=True,
        )

    def __enter__(self) -> Self:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.stop()
        elif self._shown and exc_type is None:
            self._step = ""
            self._say()
