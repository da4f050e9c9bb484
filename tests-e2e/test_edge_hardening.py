"""The edge under faults and odd HTTP, end to end: a revoked key's token across a gateway restart, auth-token's
own check, the HTTP details every service answers the same way, what is public and what is not."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from hearth_kit.auth import INTERNAL_TOKEN_HEADER, InternalTokenSigner, Principal, SigningKey

from conftest import DEMO, bearer, new_key, new_org

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[1]
BUILDING = {"name": "E2E Tower", "type": "residential", "timezone": "America/New_York",
            "address": {"line1": "1 Main St", "city": "New York", "country": "US"}}


def problem(resp: httpx.Response, status: int, type_suffix: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = resp.json()
    if type_suffix:
        assert body["type"].endswith(type_suffix), body
    return body


def restart(demo: dict[str, Any], name: str) -> None:
    """Kill one gateway replica (SIGKILL) and start it again, as `make up` started it (in this process: a
    second interpreter would spend most of the token's life importing)."""
    gateway_port = int(demo["services"]["gateway"].rsplit(":", 1)[1])
    env = {"HEARTH_RUN_DIR": str(DEMO.parent), "HEARTH_PORT_OFFSET": str(gateway_port - 8080),
           "HEARTH_GATEWAY_REPLICAS": str(len(demo["gateway_urls"])), "HEARTH_DATABASE_URL": demo["database_url"],
           "HEARTH_KAFKA_BOOTSTRAP": demo["kafka_bootstrap"], "HEARTH_ENVIRONMENT": "test"}
    sys.path.insert(0, str(REPO / "deploy" / "local"))
    import stack  # type: ignore[import-not-found]

    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        stack.restart(name)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


async def test_a_revoked_keys_temporary_token_stays_refused_after_a_gateway_restart(
        gw: httpx.AsyncClient, demo: dict[str, Any]) -> None:
    org = await new_org(gw, demo)
    victim = await new_key(gw, org["key"], role="admin")
    urls = demo["gateway_urls"]
    name = f"gateway-{len(urls)}" if len(urls) > 1 else "gateway"
    async with httpx.AsyncClient(timeout=15) as c:
        tok = (await c.post(f"{urls[-1]}/v1/auth/token", headers=bearer(victim["secret"]))).json()
        assert (await c.get(f"{urls[-1]}/v1/buildings", headers=bearer(tok["temporary_token"]))).status_code == 200
        assert (await c.delete(f"{urls[0]}/v1/api-keys/{victim['id']}", headers=bearer(org["key"]))).status_code == 204
        started = time.monotonic()
        await asyncio.to_thread(restart, demo, name)
        assert time.monotonic() - started < tok["expires_in"] - 1, "restart outlived the token: nothing proven"
        for url in urls:
            token = bearer(tok["temporary_token"])
            problem(await c.get(f"{url}/v1/buildings", headers=token), 401, "token-revoked")
            problem(await c.post(f"{url}/v1/buildings", json=BUILDING, headers=token), 401, "token-revoked")
            problem(await c.post(f"{url}/v1/api-keys", json={"name": "escape", "role": "admin"}, headers=token),
                    401, "token-revoked")


async def test_auth_token_itself_refuses_a_key_created_by_a_revoked_keys_credential(
        gw: httpx.AsyncClient, demo: dict[str, Any]) -> None:
    """Even a caller that got past a gateway (a stale replica) cannot create a key with a revoked key."""
    org = await new_org(gw, demo)
    victim = await new_key(gw, org["key"], role="admin")
    assert (await gw.delete(f"/v1/api-keys/{victim['id']}", headers=bearer(org["key"]))).status_code == 204
    sec = json.loads((DEMO.parent / "secrets.json").read_text())
    signer = InternalTokenSigner(SigningKey.from_pem(sec["gateway_signing_key_pem"], sec["gateway_signing_kid"]))
    as_gateway = signer.mint(Principal(org_id=org["org_id"], subject=victim["id"], role="admin",
                                       scopes=frozenset({"token:temporary"})))
    async with httpx.AsyncClient(base_url=demo["services"]["auth-token"], timeout=10) as auth:
        resp = await auth.post("/v1/api-keys", json={"name": "escape", "role": "admin"},
                               headers={INTERNAL_TOKEN_HEADER: as_gateway})
        problem(resp, 401, "token-revoked")


async def test_http_details_every_service_answers_alike(gw: httpx.AsyncClient, demo: dict[str, Any]) -> None:
    org = await new_org(gw, demo)
    h = bearer(org["key"])
    created = await gw.post("/v1/buildings", json=BUILDING, headers=h)
    bid = created.json()["data"]["id"]
    get = await gw.get(f"/v1/buildings/{bid}", headers=h)
    head = await gw.head(f"/v1/buildings/{bid}", headers=h)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"]
    wrong = await gw.request("PATCH", "/v1/api-keys", json={}, headers=h)
    body = problem(wrong, 405)
    assert "GET" in wrong.headers["allow"] and "POST" in wrong.headers["allow"] and "HEAD" in wrong.headers["allow"]
    assert body["instance"] == "/v1/api-keys" and body["request_id"] == wrong.headers["x-request-id"]
    problem(await gw.post("/v1/buildings", content=json.dumps(BUILDING), headers={**h, "content-type": "text/plain"}),
            415, "unsupported-media-type")
    big = problem(await gw.post("/v1/buildings", content=b"x" * 2_000_000,
                                headers={**h, "content-type": "application/json"}), 413)
    assert big["instance"] == "/v1/buildings" and big["request_id"]
    assert get.headers["ratelimit-policy"] == '"hourly";q=5000;w=3600'
    assert get.headers["ratelimit"].startswith('"hourly";r=')
    moved = await gw.get("/v1/buildings/", headers=h, follow_redirects=False)
    if moved.status_code in (307, 308):
        assert moved.headers["location"].startswith("/v1/buildings")


async def test_public_and_operator_only_paths(gw: httpx.AsyncClient, demo: dict[str, Any]) -> None:
    jwks = await gw.get("/.well-known/jwks.json")
    assert jwks.status_code == 200 and jwks.json()["keys"]
    problem(await gw.get("/metrics"), 401)
    problem(await gw.get("/metrics", headers=bearer(demo["api_key"])), 401)
    metrics = await gw.get("/metrics", headers=bearer(demo["admin_key"]))
    assert metrics.status_code == 200 and 'route="/v1/buildings/{building_id}"' in metrics.text
    assert (await gw.get("/v1/orgs", headers=bearer(demo["admin_key"]))).status_code == 404


async def test_a_partner_key_exchanges_itself_for_a_read_only_temporary_token(
        gw: httpx.AsyncClient, demo: dict[str, Any]) -> None:
    org = await new_org(gw, demo)
    partner = await new_key(gw, org["key"], role="partner")
    resp = await gw.post("/v1/auth/token", headers={"x-permanent-token": partner["secret"]})
    assert resp.status_code == 200, resp.text
    token = bearer(resp.json()["temporary_token"])
    assert (await gw.get("/v1/buildings", headers=token)).status_code == 200
    problem(await gw.post("/v1/buildings", json=BUILDING, headers=token), 403)


def _raw(url: str, payload: bytes, *, wait: float = 20) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait) as s:
        s.sendall(payload)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data


async def test_header_limits_and_a_stalled_request_at_the_gateway(demo: dict[str, Any]) -> None:
    url = demo["gateway_url"]
    many = b"GET /v1/buildings HTTP/1.1\r\nhost: x\r\n" + b"".join(b"x-h%d: v\r\n" % i for i in range(5000)) + b"\r\n"
    assert (await asyncio.to_thread(_raw, url, many)).startswith(b"HTTP/1.1 431")
    started = time.monotonic()
    stalled = await asyncio.to_thread(_raw, url, b"GET /v1/buildings HTTP/1.1\r\nhost: x\r\nx-partial: ")
    assert stalled.startswith(b"HTTP/1.1 408") and time.monotonic() - started < 15
