"""How the server answers what went wrong: one JSON object `{"detail": "<one line>"}` with the right status,
never a traceback. The same exceptions the CLI turns into one line are turned into statuses here."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from state.access import AccessDeniedError
from state.events import EventRejectedError
from state.store.base import InvalidRecordError, RecordNotFoundError, StoreConflictError, StoreUnavailableError

log = logging.getLogger("aegis.server")


def _field(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "request"


def validation_line(errors: list[dict[str, object]] | object) -> str:
    found = errors if isinstance(errors, list) else []
    shown = [f"{_field(tuple(e.get('loc', ())))}: {e.get('msg', 'invalid')}" for e in found[:5]]  # type: ignore[arg-type]
    more = f" (+{len(found) - 5} more)" if len(found) > 5 else ""
    return "invalid request: " + "; ".join(shown) + more


def _answer(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    async def request_invalid(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError | ValidationError)
        return _answer(422, validation_line(exc.errors()))

    async def denied(_: Request, exc: Exception) -> JSONResponse:
        return _answer(403, str(exc))

    async def not_found(_: Request, exc: Exception) -> JSONResponse:
        return _answer(404, str(exc))

    async def conflict(_: Request, exc: Exception) -> JSONResponse:
        return _answer(409, str(exc))

    async def refused(_: Request, exc: Exception) -> JSONResponse:
        return _answer(422, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)

    async def unavailable(_: Request, exc: Exception) -> JSONResponse:
        return _answer(503, f"a store is unavailable: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected %s on %s %s", type(exc).__name__, request.method, request.url.path, exc_info=exc)
        return _answer(500, f"internal error ({type(exc).__name__}); the server log has the details")

    app.add_exception_handler(RequestValidationError, request_invalid)
    app.add_exception_handler(ValidationError, request_invalid)
    app.add_exception_handler(AccessDeniedError, denied)
    app.add_exception_handler(RecordNotFoundError, not_found)
    app.add_exception_handler(StoreConflictError, conflict)
    app.add_exception_handler(EventRejectedError, refused)
    app.add_exception_handler(InvalidRecordError, refused)
    app.add_exception_handler(ValueError, refused)
    app.add_exception_handler(StoreUnavailableError, unavailable)
    app.add_exception_handler(Exception, unexpected)
