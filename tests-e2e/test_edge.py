"""The edge end to end: API keys, token exchange, rate limits, revocation, isolation, through the gateway."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from conftest import bearer, new_key, new_org

pytestmark = pytest.mark.e2e

BUILDING = {"name": "E2E Tower", "type": "residential", "timezone": "America/New_York",
            "address": {"line1": "1 Main St", "city": "New York", "country": "US"}}


def assert_401(resp: httpx.Response) -> dict[str, Any]:
    assert resp.status_code == 401, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.headers["www-authenticate"].startswith("Bearer")
    return dict(resp.json())


async def test_demo_key_from_make_up_works(gw: httpx.AsyncClient, demo: dict[str, Any]) -> None:
    resp = await gw.get("/v1/buildings", headers=bearer(demo["api_key"]))
    assert resp.status_code == 200, resp.text
    assert set(resp.json()["meta"]) == {"total", "page", "limit"}


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer"},
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"Authorization": "Bearer hk_live_notarealkeyatall0000000000000000000000000"},
    {"Authorization": "Bearer eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"},
])
async def test_missing_malformed_and_unknown_credentials_are_401(gw: httpx.AsyncClient,
                                                                  headers: dict[str, str]) -> None:
    assert_401(await gw.get("/v1/buildings", headers=headers))


async def test_token_exchange_both_header_styles_and_the_token_works_like_its_key(
    gw: httpx.AsyncClient, demo: dict[str, Any]
) -> None:
    org = await new_org(gw, demo)
    for headers in ({"x-permanent-token": org["key"]}, bearer(org["key"])):
        resp = await gw.post("/v1/auth/token", headers=headers)
        assert resp.status_code == 200, resp.text
        tok = resp.json()
        assert tok["token_type"] == "Bearer"
        assert tok["expires_at"] > time.time()
        created = await gw.post("/v1/buildings", json=BUILDING, headers=bearer(tok["temporary_token"]))
        assert created.status_code == 201, created.text
        bid = created.json()["data"]["id"]
        assert (await gw.get(f"/v1/buildings/{bid}", headers=bearer(org["key"]))).status_code == 200


async def test_expired_temporary_token_is_401_token_expired(gw: httpx.AsyncClient, demo: dict[str, Any]) -> None:
    org = await new_org(gw, demo)
    tok = (await gw.post("/v1/auth/token", headers={"x-permanent-token": org["key"]})).json()
    wait = tok["expires_in"] + 1.5
    if wait > 45:  # (scripts/test.sh runs with 40 s: long enough for the gateway-restart fault test)
        pytest.skip("platform runs with a long temporary-token TTL")
    await asyncio.sleep(wait)
    problem = assert_401(await gw.get("/v1/buildings", headers=bearer(tok["temporary_token"])))
    assert problem["type"].endswith("token-expired")
    assert problem["title"] == "Token Expired"


async def test_revoked_key_is_refused_on_every_gateway_within_2s(gw: httpx.AsyncClient, demo: dict[str, Any]) -> None:
    org = await new_org(gw, demo)
    victim = await new_key(gw, org["key"], role="manager")
    urls = demo["gateway_urls"]
    async with httpx.AsyncClient(timeout=10) as c:
        for url in urls:  # every replica knows and accepts the key first
            assert (await c.get(f"{url}/v1/buildings", headers=bearer(victim["secret"]))).status_code == 200
        tok = (await c.post(f"{urls[0]}/v1/auth/token", headers=bearer(victim["secret"]))).json()["temporary_token"]
        revoked = await c.delete(f"{urls[0]}/v1/api-keys/{victim['id']}", headers=bearer(org["key"]))
        assert revoked.status_code == 204, revoked.text
        start = time.monotonic()
        pending = set(urls)
        while pending and time.monotonic() - start < 2.0:
            for url in list(pending):
                if (await c.get(f"{url}/v1/buildings", headers=bearer(victim["secret"]))).status_code == 401:
                    pending.discard(url)
            await asyncio.sleep(0.05)
        assert not pending, f"still accepted after 2 s on {pending}"
        for url in urls:
            assert_401(await c.get(f"{url}/v1/buildings", headers=bearer(victim["secret"])))
            assert_401(await c.get(f"{url}/v1/buildings", headers=bearer(tok)))
        listed = (await c.get(f"{urls[0]}/v1/api-keys", headers=bearer(org["key"]))).json()["data"]
        assert all("secret" not in k for k in listed)


async def test_rate_limit_is_exact_across_two_gateway_replicas(gw: httpx.AsyncClient, demo: dict[str, Any]) -> None:
    org = await new_org(gw, demo, plan="test")
    urls = demo["gateway_urls"]
    assert len(urls) >= 2, "the e2e platform runs two gateway replicas"
    remaining: list[int] = []
    async with httpx.AsyncClient(timeout=10) as c:
        first = await c.get(f"{urls[0]}/v1/buildings", headers=bearer(org["key"]))
        limit = int(first.headers["ratelimit-limit"])
        remaining.append(int(first.headers["ratelimit-remaining"]))
        for i in range(1, limit):
            resp = await c.get(f"{urls[i % 2]}/v1/buildings", headers=bearer(org["key"]))
            assert resp.status_code == 200, resp.text
            remaining.append(int(resp.headers["ratelimit-remaining"]))
            assert int(resp.headers["ratelimit-reset"]) <= 3600
        assert remaining == list(range(limit - 1, -1, -1))
        over = await c.get(f"{urls[limit % 2]}/v1/buildings", headers=bearer(org["key"]))
        assert over.status_code == 429
        assert over.headers["content-type"] == "application/problem+json"
        assert int(over.headers["retry-after"]) > 0
        assert over.headers["ratelimit-remaining"] == "0"
        other = await c.get(f"{urls[(limit + 1) % 2]}/v1/buildings", headers=bearer(org["key"]))
        assert other.status_code == 429


async def test_isolation_and_partner_read_only(gw: httpx.AsyncClient, demo: dict[str, Any]) -> None:
    a, b = await new_org(gw, demo), await new_org(gw, demo)
    bid = (await gw.post("/v1/buildings", json=BUILDING, headers=bearer(a["key"]))).json()["data"]["id"]
    resp = await gw.get(f"/v1/buildings/{bid}", headers=bearer(b["key"]))
    assert resp.status_code == 404
    assert resp.headers["content-type"] == "application/problem+json"
    partner = await new_key(gw, a["key"], role="partner")
    assert (await gw.get(f"/v1/buildings/{bid}", headers=bearer(partner["secret"]))).status_code == 200
    denied = await gw.post("/v1/buildings", json=BUILDING, headers=bearer(partner["secret"]))
    assert denied.status_code == 403
    assert denied.headers["content-type"] == "application/problem+json"
    admin_only = await gw.post("/v1/admin/orgs", json={"name": "x", "plan": "standard"}, headers=bearer(a["key"]))
    assert admin_only.status_code == 403


async def test_bad_input_through_the_gateway_is_a_4xx_problem(gw: httpx.AsyncClient, demo: dict[str, Any]) -> None:
    org = await new_org(gw, demo)
    h = {**bearer(org["key"]), "content-type": "application/json"}
    bad = await gw.post("/v1/buildings", content=b"{not json", headers=h)
    assert bad.status_code == 400
    wrong = await gw.post("/v1/buildings", json={**BUILDING, "type": "castle"}, headers=h)
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["field"] == "type"
    big = await gw.post("/v1/buildings", content=b"x" * 2_000_000, headers=h)
    assert big.status_code == 413
    listed = (await gw.get("/v1/buildings", headers=h)).json()
    assert listed["meta"]["total"] == 0
    assert (await gw.get("/v1/nothing-here", headers=h)).status_code == 404


async def test_request_id_and_openapi(gw: httpx.AsyncClient, demo: dict[str, Any]) -> None:
    resp = await gw.get("/v1/buildings", headers={**bearer(demo["api_key"]), "x-request-id": "e2e-trace-1"})
    assert resp.headers["x-request-id"] == "e2e-trace-1"
    spec = (await gw.get("/openapi.json")).json()
    assert "/v1/buildings" in spec["paths"]
    assert "/v1/api-keys" in spec["paths"]
    assert (await gw.get("/docs")).status_code == 200
