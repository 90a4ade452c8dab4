"""A registry of the catalog's real specs whose handlers record their calls (for the workflow's unit tests)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel

from tools.registry.catalog import SPECS
from tools.registry.spec import Caller, Tool, ToolRegistry, ToolResult


@dataclass
class Recorder:
    calls: list[tuple[str, BaseModel, Caller]] = field(default_factory=list)
    running: int = 0
    most_at_once: int = 0
    failures: dict[str, list[Exception]] = field(default_factory=dict)  # tool -> errors to raise, in turn
    delay_s: float = 0.0

    def handler(self, name: str) -> Callable[[BaseModel, Caller], object]:
        async def handle(args: BaseModel, caller: Caller) -> ToolResult:
            self.calls.append((name, args, caller))
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            try:
                await asyncio.sleep(self.delay_s)
                queue = self.failures.get(name)
                if queue:
                    raise queue.pop(0)
                return ToolResult(f"{name} done", {"tool": name}, (f"record:{name}",))
            finally:
                self.running -= 1

        return handle

    def registry(self) -> ToolRegistry:
        return ToolRegistry([Tool(spec, self.handler(spec.name)) for spec in SPECS])  # type: ignore[arg-type]

    def called(self) -> list[str]:
        return [name for name, _, _ in self.calls]
