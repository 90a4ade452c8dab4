"""An AEGIS app served in the test's own event loop (lifespan run by hand, httpx over ASGI), with one API key
per role. `served(...)` gives the client, the server's context and the keys."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from aegis.pipeline import Pipeline
from aegis.server.app import create_app
from aegis.server.config import ServerConfig
from aegis.server.context import ServerContext
from aegis.settings import Settings
from state.access import Access
from tests.conftest import PipelineFactory


@dataclass
class Served:
    client: httpx.AsyncClient
    context: ServerContext
    keys: dict[Access, str]

    def as_role(self, role: Access | str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[Access(role)]}"}

    @property
    def pipeline(self) -> Pipeline:
        return self.context.pipeline


@asynccontextmanager
async def serve(pipeline: Pipeline, settings: Settings | None = None) -> AsyncIterator[Served]:
    app = create_app(settings or pipeline.settings, pipeline=pipeline)
    async with app.router.lifespan_context(app):
        context: ServerContext = app.state.aegis
        keys = {role: (await context.keys.create(f"test-{role}", role, by="test")).key for role in Access}
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://aegis.test") as client:
            yield Served(client, context, keys)


ServeFactory = Callable[..., Awaitable[Served]]


@pytest.fixture
async def served(make_pipeline: PipelineFactory) -> AsyncIterator[ServeFactory]:
    """`await served(**pipeline_options, server=dict(...))`: a pipeline (tests.conftest.make_pipeline) served."""
    opened: list[Any] = []

    async def factory(*, server: dict[str, Any] | None = None, **options: Any) -> Served:
        pipeline = await make_pipeline(**options)
        settings = pipeline.settings
        # the health monitor runs only where a test asks for it: its rounds would add SYSTEM_HEALTH decisions
        chosen = ServerConfig.model_validate(
            {**settings.server.model_dump(), "health_monitor": False, **(server or {})}
        )
        settings = settings.model_copy(update={"server": chosen})
        manager = serve(pipeline, settings)
        opened.append(manager)
        return await manager.__aenter__()

    yield factory
    for manager in reversed(opened):
        await manager.__aexit__(None, None, None)
