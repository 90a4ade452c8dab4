"""No key, token or secret in any log line or response of a whole `aegis serve` run: keys of every role and
bearer tokens used on every route (accepted, refused, forged), the log at DEBUG as JSON lines in a file and
the process's own output, then every byte of them and of every response scanned for each secret used."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import httpx
import jwt
import pytest

from tests.aegis.server.serve_process import embedded_env, make_key, serve_process
from tests.conftest import bundled_bars, signal

JWT_SECRET = secrets.token_urlsafe(40)
PROVIDER_KEY = "sk-" + secrets.token_hex(24)


def token(role: str, *, key: str = JWT_SECRET, exp_in: float = 300) -> str:
    claims = {"sub": "idp-user", "aegis_role": role, "exp": time.time() + exp_in}
    return jwt.encode(claims, key, algorithm="HS256")


@pytest.mark.slow
def test_a_whole_run_never_shows_a_key_token_or_secret(tmp_path: Path) -> None:
    log_file = tmp_path / "serve.log"
    env = embedded_env(tmp_path / "records", AEGIS_LOG__FILE=str(log_file), AEGIS_LOG__LEVEL="DEBUG",
                       AEGIS_LOG__FORMAT="json", AEGIS_SERVER__JWT__HS256_SECRET=JWT_SECRET,
                       DEEPSEEK_API_KEY=PROVIDER_KEY)  # fmt: skip
    keys = {role: make_key(env, f"desk-{role}", role) for role in ("read", "trade", "admin")}
    forged = "aegis_" + keys["admin"][6:18] + "_" + secrets.token_urlsafe(32)  # a real id, a guessed secret
    tokens = {"trade": token("trade"), "expired": token("admin", exp_in=-600),
              "forged": token("admin", key=secrets.token_urlsafe(40))}  # fmt: skip
    used = [*keys.values(), forged, *tokens.values(), JWT_SECRET, PROVIDER_KEY]
    used += [key.rsplit("_", 1)[1] for key in (*keys.values(), forged)]  # each key's secret part on its own
    answers: list[str] = []
    with serve_process(env) as server, httpx.Client(base_url=server.base, timeout=20) as client:

        def call(method: str, path: str, credential: str | None, **kwargs: object) -> httpx.Response:
            headers = {"Authorization": f"Bearer {credential}"} if credential else {}
            answer = client.request(method, path, headers=headers, **kwargs)  # type: ignore[arg-type]
            answers.append(f"{answer.status_code} {dict(answer.headers)} {answer.text}")
            return answer

        bar = bundled_bars()[200]
        assert call("POST", "/api/events", keys["trade"], json=signal("sig-1", bar)).status_code == 200
        assert call("POST", "/api/events", keys["trade"], json={"type": "nope"}).status_code == 422
        paths = call("GET", "/openapi.json", None).json()["paths"]
        for path, item in paths.items():
            if "get" in item and path != "/api/stream":
                filled = path.replace("{event_id}", "sig-1").replace("{request_id}", "req-x")
                filled = filled.replace("{rule_id}", "r-x").replace("{name}", "daily_loss_limit_pct")
                for credential in (*keys.values(), forged, *tokens.values()):
                    call("GET", filled, credential)
        assert call("POST", "/api/trading/halt", tokens["trade"], json={"reason": "drill"}).status_code == 200
        assert call("POST", "/api/trading/resume", keys["admin"], json={"reason": "drill"}).status_code == 200
        assert call("POST", "/api/trading/resume", tokens["forged"], json={"reason": "x" * 5}).status_code == 401
        override = {"posture": "defensive", "minutes": 30, "reason": "drill"}
        assert call("POST", "/api/posture/override", keys["trade"], json=override).status_code == 200
        limit = {"value": 2, "reason": "drill"}
        assert call("PUT", "/api/limits/daily_loss_limit_pct", keys["trade"], json=limit).status_code == 200
        asked = call("POST", "/api/workflow?wait=true", keys["trade"], json={"request": "halt trading on AAPL"})
        assert asked.status_code == 200, asked.text
        for approval in call("GET", "/api/approvals", keys["read"]).json()["approvals"]:
            path = f"/api/approvals/{approval['approval_id']}/approve"
            assert call("POST", path, keys["admin"], json={"reason": "drill"}).status_code == 200
        with client.stream("GET", "/api/stream", headers={"Authorization": f"Bearer {keys['read']}"}) as live:
            first = next(live.iter_lines())
            answers.append(first)
    logged = "".join(p.read_text() for p in tmp_path.glob("serve.log*")) + server.output
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert len(lines) > 50  # the run was logged, at DEBUG, as JSON
    assert any(line.get("category") == "audit" and "key:desk-trade#" in json.dumps(line) for line in lines)
    for secret in used:
        assert secret not in logged, f"a secret of the run is in the log: {secret[:10]}..."
        for answer in answers:
            assert secret not in answer, f"a secret of the run is in a response: {secret[:10]}..."
