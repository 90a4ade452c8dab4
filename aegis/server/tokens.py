"""Bearer tokens (JWT) from the user's identity provider: HS256 with a shared secret, or a signature checked
against the provider's JWKS (RS256, ES256). PyJWT does the cryptography; this module decides what a valid
token must carry: a signature, `exp`, `sub`, the configured `aud`/`iss`, and a role in `role_claim`.

The JWKS is fetched by PyJWT's client (cached, refetched for an unknown key id) in a worker thread, so a slow
identity provider never blocks the event loop.
"""

from __future__ import annotations

import asyncio

import jwt

from aegis.server.config import JwtConfig
from aegis.server.principal import Principal
from state.access import Access

_ASYMMETRIC = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]


class InvalidTokenError(ValueError):
    """The token is not one this server accepts; the message says why, without echoing the token."""


class TokenVerifier:
    def __init__(self, config: JwtConfig) -> None:
        self._config = config
        self._jwks = jwt.PyJWKClient(config.jwks_url, cache_keys=True, lifespan=300) if config.jwks_url else None

    @property
    def enabled(self) -> bool:
        return self._config.enabled

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidTokenError(f"malformed token ({type(exc).__name__})") from None
        algorithm = header.get("alg")
        key: object
        if algorithm == "HS256" and self._config.hs256_secret is not None:
            key, algorithms = self._config.hs256_secret.get_secret_value(), ["HS256"]
        elif algorithm in _ASYMMETRIC and self._jwks is not None:
            jwks = self._jwks
            try:
                key = (await asyncio.to_thread(jwks.get_signing_key_from_jwt, token)).key
            except jwt.PyJWTError as exc:
                raise InvalidTokenError(f"no signing key for the token ({exc})") from None
            algorithms = [str(algorithm)]
        else:
            raise InvalidTokenError(f"tokens signed with {algorithm!r} are not accepted here")
        try:
            claims = jwt.decode(
                token,
                key=key,  # type: ignore[arg-type]
                algorithms=algorithms,
                audience=self._config.audience,
                issuer=self._config.issuer,
                leeway=self._config.leeway_s,
                options={"require": ["exp", "sub"], "verify_aud": self._config.audience is not None},
            )
        except jwt.PyJWTError as exc:
            raise InvalidTokenError(f"token refused: {exc}") from None
        role = claims.get(self._config.role_claim)
        if role not in {a.value for a in Access}:
            raise InvalidTokenError(f"token's {self._config.role_claim!r} claim must be read, trade or admin")
        return Principal(name=str(claims["sub"]), role=Access(role), via="jwt")
