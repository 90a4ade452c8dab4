"""Authentication, rate limits and roles, as one FastAPI dependency per role: `Reader`, `Trader`, `Admin`.

A caller presents an API key (`Authorization: Bearer aegis_...` or `X-API-Key: aegis_...`) or a JWT
(`Authorization: Bearer <token>`, when `server.jwt` is configured). Then, in this order:
1. no credentials, or credentials that do not authenticate -> 401 (`WWW-Authenticate: Bearer`); the failed
   attempt is counted against the caller's address, so keys cannot be guessed at full speed;
2. the caller's bucket is empty -> 429 with `Retry-After`;
3. the caller's role does not allow the route -> 403 naming the role needed.
Keys and tokens are never echoed, logged or put in a response. Operations whose rule depends on their
arguments (a limit loosened needs admin) are checked again by their control, with the caller's role.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from aegis.server.context import ServerContext, server_context
from aegis.server.principal import Principal
from aegis.server.tokens import InvalidTokenError
from state.access import Access
from state.api_keys import KEY_PREFIX

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def _credential(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return None
    key = request.headers.get("x-api-key")
    return key.strip() if key and key.strip() else None


def client_address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


async def limit(context: ServerContext, bucket: str) -> None:
    verdict = await context.limiter.take(bucket)
    if not verdict.allowed:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many requests: slow down and retry after the time in Retry-After",
            headers={"Retry-After": verdict.retry_after_header},
        )


async def authenticate(request: Request, context: ServerContext) -> Principal:
    credential = _credential(request)
    principal: Principal | None = None
    why = "no credentials: send 'Authorization: Bearer <api key or token>' or 'X-API-Key: <api key>'"
    if credential is not None:
        if credential.startswith(KEY_PREFIX):
            record = await context.keys.authenticate(credential)
            if record is not None:
                principal = Principal(record.name, record.role, "key", record.key_id)
            else:
                why = "the API key is unknown or revoked"
        elif context.tokens.enabled:
            try:
                principal = await context.tokens.verify(credential)
            except InvalidTokenError as exc:
                why = str(exc)
        else:
            why = "bearer tokens are not configured here (server.jwt); use an API key"
    if principal is None:
        await limit(context, f"addr:{client_address(request)}")
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, why, headers=_CHALLENGE)
    request.state.principal = principal
    return principal


def require(needed: Access) -> object:
    async def dependency(request: Request, context: Annotated[ServerContext, Depends(server_context)]) -> Principal:
        principal = await authenticate(request, context)
        await limit(context, principal.bucket)
        if not principal.role.allows(needed):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"this needs the {needed} role; the caller has {principal.role}"
            )
        return principal

    return Depends(dependency)


Reader = Annotated[Principal, require(Access.READ)]
Trader = Annotated[Principal, require(Access.TRADE)]
Admin = Annotated[Principal, require(Access.ADMIN)]
Context = Annotated[ServerContext, Depends(server_context)]
