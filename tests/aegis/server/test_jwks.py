"""Tokens signed by an identity provider's key, checked against its JWKS served over real HTTP on loopback."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.aegis.server.conftest import ServeFactory

HALT = {"reason": "identity provider drill"}


@pytest.fixture
def provider() -> Iterator[tuple[str, rsa.RSAPrivateKey]]:
    """(JWKS address, the provider's signing key): a JWKS endpoint on loopback serving the public half."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    document = json.dumps({"keys": [{**public, "kid": "idp-1", "use": "sig", "alg": "RS256"}]}).encode()

    class Jwks(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(document)))
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json", key
    server.shutdown()
    server.server_close()


def signed(key: rsa.RSAPrivateKey, role: str, *, kid: str = "idp-1", **claims: object) -> str:
    body = {
        "sub": "alice",
        "aegis_role": role,
        "exp": time.time() + 300,
        "aud": "aegis",
        "iss": "https://idp",
        **claims,
    }
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid})


async def test_a_token_signed_by_the_identity_provider_is_accepted_with_its_role(
    served: ServeFactory, provider: tuple[str, rsa.RSAPrivateKey]
) -> None:
    url, key = provider
    api = await served(server={"jwt": {"jwks_url": url, "audience": "aegis", "issuer": "https://idp"}})
    trade = {"Authorization": f"Bearer {signed(key, 'trade')}"}
    halted = await api.client.post("/api/trading/halt", json=HALT, headers=trade)
    assert halted.status_code == 200, halted.text
    assert halted.json()["status"]["actor"] == "jwt:alice"
    read = {"Authorization": f"Bearer {signed(key, 'read')}"}
    assert (await api.client.post("/api/trading/resume", json=HALT, headers=read)).status_code == 403


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"aud": "someone-else"}, "Audience"),
        ({"iss": "https://other-idp"}, "issuer"),
        ({"exp": time.time() - 600}, "expired"),
    ],
)
async def test_tokens_for_another_audience_issuer_or_time_are_refused(
    served: ServeFactory, provider: tuple[str, rsa.RSAPrivateKey], claims: dict[str, object], why: str
) -> None:
    url, key = provider
    api = await served(server={"jwt": {"jwks_url": url, "audience": "aegis", "issuer": "https://idp"}})
    bearer = signed(key, "admin", **claims)  # type: ignore[arg-type]
    answer = await api.client.get("/api/trading", headers={"Authorization": f"Bearer {bearer}"})
    assert answer.status_code == 401
    assert why.lower() in answer.json()["detail"].lower()


async def test_a_token_signed_by_another_key_is_refused(
    served: ServeFactory, provider: tuple[str, rsa.RSAPrivateKey]
) -> None:
    url, _ = provider
    api = await served(server={"jwt": {"jwks_url": url}})
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for token in (signed(stranger, "admin"), signed(stranger, "admin", kid="unknown")):
        answer = await api.client.get("/api/trading", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401, answer.text
