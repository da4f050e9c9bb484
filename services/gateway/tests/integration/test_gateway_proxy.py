"""The gateway against real Postgres and Kafka, two replicas side by side, a real fake upstream."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from gateway_harness import Replicas, Upstream
from hearth_contracts.auth import ApiKeyRevoked
from hearth_contracts.envelope import to_cloudevent_bytes
from hearth_kit.auth import INTERNAL_TOKEN_HEADER, InternalTokenSigner, InternalTokenVerifier, Principal, SigningKey
from hearth_kit.ids import new_id
from hearth_kit.testing import Infra

pytestmark = pytest.mark.integration


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def verifier(r: Replicas) -> InternalTokenVerifier:
    doc = (await r.b.get("/internal/jwks.json")).json()
    return InternalTokenVerifier(json.dumps(doc))


def assert_problem(resp: httpx.Response, status: int, type_suffix: str | None = None) -> dict[str, object]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = resp.json()
    assert body["status"] == status
    if type_suffix:
        assert str(body["type"]).endswith(type_suffix), body
    return body


async def test_forwards_with_a_verifiable_internal_jwt_request_id_and_traceparent(
        replicas: Replicas, upstream: Upstream) -> None:
    secret, key_id, org = upstream.auth.add_key(role="manager", scopes=["buildings:read"])
    tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    for client in replicas.clients:
        resp = await client.get("/v1/buildings/bld_1?x=1&y=%20z", headers={
            **bearer(secret), "x-request-id": "req_mine", "traceparent": tp,
            INTERNAL_TOKEN_HEADER: "forged.by.client", "Connection": "close, x-secret", "x-secret": "1"})
        assert resp.status_code == 200, resp.text
        seen = resp.json()
        assert (seen["path"], seen["query"]) == ("/v1/buildings/bld_1", "x=1&y=%20z")
        h = seen["headers"]
        assert h["x-request-id"] == "req_mine" == resp.headers["x-request-id"]
        assert h["traceparent"] == tp
        assert "authorization" not in h and "x-secret" not in h
        assert h[INTERNAL_TOKEN_HEADER] != "forged.by.client"
        principal = (await verifier(replicas)).verify(h[INTERNAL_TOKEN_HEADER])
        assert principal == Principal(org_id=org, subject=key_id, role="manager", scopes=frozenset({"buildings:read"}))
        assert resp.headers["RateLimit-Limit"] == "5"
    # no traceparent / a broken one: the gateway starts a trace; no request id: one is made
    resp = await replicas.b.get("/v1/buildings", headers={**bearer(secret), "traceparent": "nonsense"})
    h = resp.json()["headers"]
    assert h["traceparent"] != "nonsense" and len(h["traceparent"].split("-")) == 4
    assert h["x-request-id"] == resp.headers["x-request-id"]
    # the gateway authenticated itself to auth-token with its own internal JWT
    me = (await verifier(replicas)).verify(upstream.auth.lookup_tokens[-1])
    assert (me.org_id, me.subject, me.scopes) == ("org_platform", "gateway", frozenset({"internal:gateway"}))


async def test_rate_limit_is_exact_across_two_replicas(replicas: Replicas, upstream: Upstream) -> None:
    secret, key_id, _ = upstream.auth.add_key(plan="test")
    remaining = []
    for i in range(5):
        resp = await replicas.clients[i % 2].get("/v1/units", headers=bearer(secret))
        assert resp.status_code == 200, resp.text
        remaining.append(int(resp.headers["RateLimit-Remaining"]))
        assert 0 < int(resp.headers["RateLimit-Reset"]) <= 3600
    assert remaining == [4, 3, 2, 1, 0]
    before = len(upstream.seen)
    for client in replicas.clients:
        denied = await client.get("/v1/units", headers=bearer(secret))
        assert_problem(denied, 429, "rate-limited")
        assert denied.headers["RateLimit-Remaining"] == "0"
        assert 0 < int(denied.headers["Retry-After"]) <= 3600
    assert len(upstream.seen) == before  # a denied request never reaches the service
    async with replicas.a.raw() as conn:  # one shared counter, never pushed past the limit by denials
        assert await conn.fetchval("SELECT sum(count) FROM rate_counters WHERE key_id = $1", key_id) == 5


async def test_concurrent_burst_on_both_replicas_admits_exactly_the_limit(
        replicas: Replicas, upstream: Upstream) -> None:
    secret, _, _ = upstream.auth.add_key(plan="test")
    resps = await asyncio.gather(*(replicas.clients[i % 2].get("/v1/leases", headers=bearer(secret))
                                   for i in range(30)))
    codes = sorted(r.status_code for r in resps)
    assert codes.count(200) == 5 and codes.count(429) == 25, codes


async def test_a_burst_on_one_key_shares_round_trips_and_numbers_stay_exact(
        replicas: Replicas, upstream: Upstream) -> None:
    """Group commit: concurrent calls for one key are counted together, each still gets its own number."""
    secret, _, _ = upstream.auth.add_key(plan="standard")
    counters = [c for c in (replicas.gateway(i).limiter.counter for i in (0, 1)) if c is not None]
    before = sum(c.statements for c in counters)
    resps = await asyncio.gather(*(replicas.clients[i % 2].get("/v1/units", headers=bearer(secret))
                                   for i in range(200)))
    # (on a loaded box a few may time out upstream: they were counted all the same, and say so)
    assert sorted(int(r.headers["RateLimit-Remaining"]) for r in resps) == list(range(800, 1000))  # each once
    statements = sum(c.statements for c in counters) - before
    assert statements < 200, statements  # fewer round trips than calls


async def test_revocation_reaches_every_replica_within_two_seconds(
        replicas: Replicas, upstream: Upstream, infra: Infra) -> None:
    secret, key_id, org = upstream.auth.add_key(plan="standard")
    digest = next(h for h, d in upstream.auth.keys.items() if d["key_id"] == key_id)
    token = upstream.auth.temporary_token(key_id=key_id, org=org)
    for client in replicas.clients:  # both replicas have the identity cached now
        assert (await client.get("/v1/residents", headers=bearer(secret))).status_code == 200
        assert (await client.get("/v1/residents", headers=bearer(token))).status_code == 200
    event = to_cloudevent_bytes(event_id=new_id("evt"), source="hearth/auth", subject=key_id, org_id=org,
                                sequence=2, data=ApiKeyRevoked(key_id=key_id, org_id=org, secret_sha256=digest,
                                                               revoked_at=datetime.now(UTC)))
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait("auth.events", event, key=key_id.encode())
        sent = time.monotonic()
    finally:
        await producer.stop()
    refused: dict[int, float] = {}
    while len(refused) < 2 and time.monotonic() - sent < 5:
        for i, client in enumerate(replicas.clients):
            if i not in refused:
                resp = await client.get("/v1/residents", headers=bearer(secret))
                if resp.status_code == 401:
                    refused[i] = time.monotonic() - sent
                    assert_problem(resp, 401, "token-revoked")
        await asyncio.sleep(0.05)
    assert set(refused) == {0, 1} and max(refused.values()) < 2.0, refused
    print(f"revocation refused after {refused}")
    for client in replicas.clients:  # temporary tokens of a revoked key die with it
        assert_problem(await client.get("/v1/residents", headers=bearer(token)), 401, "token-revoked")


async def test_temporary_tokens(replicas: Replicas, upstream: Upstream) -> None:
    _, key_id, org = upstream.auth.add_key()
    ok = await replicas.b.get("/v1/agents", headers=bearer(upstream.auth.temporary_token(key_id=key_id, org=org)))
    assert ok.status_code == 200, ok.text
    principal = (await verifier(replicas)).verify(ok.json()["headers"][INTERNAL_TOKEN_HEADER])
    assert principal.subject == key_id and "token:temporary" in principal.scopes
    expired = upstream.auth.temporary_token(key_id=key_id, org=org, expires_in=-60)
    resp = await replicas.a.client.get("/v1/agents", headers=bearer(expired))
    body = assert_problem(resp, 401, "token-expired")
    assert body["title"] == "Token Expired"
    assert 'error="invalid_token"' in resp.headers["www-authenticate"]
    forged = SigningKey.generate("auth-test-1").sign({"iss": "hearth-auth", "aud": "hearth-api", "sub": key_id,
                                                      "org": org, "role": "admin", "exp": int(time.time()) + 60})
    assert_problem(await replicas.b.get("/v1/agents", headers=bearer(forged)), 401)
    wrong_aud = upstream.auth.temporary_token(key_id=key_id, org=org, aud="hearth-internal")
    assert_problem(await replicas.b.get("/v1/agents", headers=bearer(wrong_aud)), 401)


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer"}, {"Authorization": "Basic dXNlcjpwdw=="},
    {"Authorization": "Bearer not a token"}, {"Authorization": "Bearer abc.def.ghi"},
    {"Authorization": "Bearer hk_test_unknown_key_0000000000"},
])
async def test_missing_malformed_unknown_credentials_are_401_with_a_challenge(
        replicas: Replicas, headers: dict[str, str]) -> None:
    for client in replicas.clients:
        resp = await client.get("/v1/buildings", headers=headers)
        assert_problem(resp, 401)
        assert resp.headers["www-authenticate"].startswith("Bearer")


async def test_unknown_keys_are_cached_briefly_so_floods_do_not_reach_auth(
        replicas: Replicas, upstream: Upstream) -> None:
    key = "hk_test_flood_" + new_id("x")
    before = len(upstream.auth.lookups)
    for _ in range(20):
        assert (await replicas.b.get("/v1/buildings", headers=bearer(key))).status_code == 401
    assert len(upstream.auth.lookups) - before == 1


async def test_roles_and_scopes(replicas: Replicas, upstream: Upstream) -> None:
    partner, _, _ = upstream.auth.add_key(role="partner")
    before = len(upstream.seen)
    assert_problem(await replicas.b.post("/v1/buildings", json={}, headers=bearer(partner)), 403, "read-only-role")
    assert len(upstream.seen) == before
    assert (await replicas.b.get("/v1/buildings", headers=bearer(partner))).status_code == 200
    admin, _, _ = upstream.auth.add_key(role="admin")
    assert_problem(await replicas.b.get("/v1/admin/orgs", headers=bearer(admin)), 403, "insufficient-scope")
    op = await replicas.b.post("/v1/admin/orgs", json={"name": "x"}, headers=bearer(replicas.admin_key))
    assert op.status_code == 200, op.text
    assert "RateLimit-Limit" not in op.headers  # operator key: unlimited, not counted
    p = (await verifier(replicas)).verify(op.json()["headers"][INTERNAL_TOKEN_HEADER])
    assert (p.org_id, p.subject, p.role, p.scopes) == (
        "org_platform", "key_platform_admin", "admin", frozenset({"platform:admin"}))


async def test_token_exchange_accepts_x_permanent_token_and_passes_it_to_auth(
        replicas: Replicas, upstream: Upstream) -> None:
    secret, key_id, _ = upstream.auth.add_key()
    resp = await replicas.b.post("/v1/auth/token", headers={"x-permanent-token": secret})
    assert resp.status_code == 200, resp.text
    h = resp.json()["headers"]
    assert h["x-permanent-token"] == secret
    assert (await verifier(replicas)).verify(h[INTERNAL_TOKEN_HEADER]).subject == key_id
    # only on the exchange route
    assert_problem(await replicas.b.get("/v1/buildings", headers={"x-permanent-token": secret}), 401)


async def test_upstream_failures_map_to_problems(replicas: Replicas, upstream: Upstream) -> None:
    secret, _, _ = upstream.auth.add_key(plan="standard")
    for client in replicas.clients:
        slow = await client.get("/v1/slow", headers=bearer(secret))
        assert_problem(slow, 504, "upstream-timeout")
        assert slow.headers["RateLimit-Limit"] == "1000"
        assert_problem(await client.get("/v1/down/x", headers=bearer(secret)), 503, "upstream-unavailable")
        assert_problem(await client.post("/v1/buildings", content=b"x" * 1_100_000,
                                         headers={**bearer(secret), "content-type": "text/plain"}), 413)
        assert_problem(await client.get("/nowhere"), 404)
    assert_problem(await replicas.b.get("/v1/nothing-here/1", headers=bearer(secret)), 404)


async def test_chunked_upload_over_the_limit_is_413_and_big_responses_stream(
        replicas: Replicas, upstream: Upstream) -> None:
    secret, _, _ = upstream.auth.add_key(plan="standard")

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"y" * 100_000

    resp = await replicas.b.post("/v1/buildings", content=chunks(), headers=bearer(secret))
    assert_problem(resp, 413)
    big = await replicas.b.get("/v1/big", headers=bearer(secret))
    assert big.status_code == 200 and len(big.content) == 1_000_000
    small = await replicas.b.post("/v1/buildings", content=b"z" * 1000, headers=bearer(secret))
    assert small.json()["body_len"] == 1000
    head = await replicas.b.head("/v1/big", headers=bearer(secret))
    assert (head.status_code, head.headers["content-length"], head.content) == (200, "1000000", b"")


async def test_an_answer_cut_short_upstream_is_cut_short_for_the_caller_too(
        replicas: Replicas, upstream: Upstream) -> None:
    """Never a clean end: that would pass a truncated body off as whole."""
    secret, _, _ = upstream.auth.add_key(plan="standard")
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        await replicas.b.get("/v1/big/cut", headers=bearer(secret))
    assert (await replicas.b.get("/v1/buildings", headers=bearer(secret))).status_code == 200  # still serving


async def test_an_unexpected_error_is_a_logged_500_problem(
        replicas: Replicas, upstream: Upstream, monkeypatch: pytest.MonkeyPatch) -> None:
    secret, _, _ = upstream.auth.add_key(plan="standard")

    async def broken(*_: object, **__: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(replicas.gateway(1).auth, "authenticate", broken)
    resp = await replicas.b.get("/v1/buildings", headers=bearer(secret))
    body = assert_problem(resp, 500)
    assert "boom" not in resp.text and resp.headers["x-request-id"].startswith("req_")
    assert body["status"] == 500


async def test_websocket_pass_through(replicas: Replicas, upstream: Upstream) -> None:
    secret, key_id, _ = upstream.auth.add_key(plan="standard")
    ws_url = replicas.b_url.replace("http", "ws") + "/v1/stream/room-1"
    accepted: list[dict[str, Any]] = [{"headers": bearer(secret)}, {"params": {"access_token": secret, "since": "5"}}]
    refused: list[dict[str, Any]] = [{}, {"headers": bearer("hk_test_nobody_000000000")}]
    async with aiohttp.ClientSession() as session:
        for kwargs in accepted:
            async with session.ws_connect(ws_url, **kwargs) as ws:
                hello = await ws.receive_json(timeout=5)
                assert "access_token" not in hello["query"]
                token = hello["headers"][INTERNAL_TOKEN_HEADER]
                assert (await verifier(replicas)).verify(token).subject == key_id
                await ws.send_str("hi")
                assert (await ws.receive(timeout=5)).data == "echo:hi"
                await ws.send_bytes(b"abc")
                assert (await ws.receive(timeout=5)).data == b"cba"
        for kwargs in refused:
            with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                async with session.ws_connect(ws_url, **kwargs):
                    pass
            assert err.value.status == 401


async def test_merged_openapi_docs_jwks_and_cors(replicas: Replicas) -> None:
    doc = (await replicas.b.get("/openapi.json")).json()
    assert "/v1/things" in doc["paths"] and "Thing" in doc["components"]["schemas"]
    assert doc["info"]["x-unavailable-services"] == ["dead"]
    assert "swagger" in (await replicas.b.get("/docs")).text.lower()
    keys = (await replicas.b.get("/internal/jwks.json")).json()["keys"]
    assert keys[0]["alg"] == "EdDSA" and "d" not in keys[0]
    pre = await replicas.b.options("/v1/buildings", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization"})
    assert pre.status_code == 200
    assert pre.headers["access-control-allow-origin"] == "https://app.example"
    assert (await replicas.b.get("/healthz")).status_code == 200
    ready = await replicas.a.client.get("/readyz")
    assert ready.status_code == 200, ready.text


async def test_internal_jwt_from_another_signer_is_not_what_services_receive(replicas: Replicas,
                                                                            upstream: Upstream) -> None:
    """A client that mints its own internal JWT gains nothing: the gateway replaces it."""
    secret, key_id, org = upstream.auth.add_key(role="technician")
    forged = InternalTokenSigner(SigningKey.generate("gateway-1")).mint(
        Principal(org_id="org_victim", subject="key_x", role="admin"))
    resp = await replicas.a.client.get("/v1/units", headers={**bearer(secret), INTERNAL_TOKEN_HEADER: forged})
    got = (await verifier(replicas)).verify(resp.json()["headers"][INTERNAL_TOKEN_HEADER])
    assert (got.org_id, got.subject, got.role) == (org, key_id, "technician")


async def test_forwarded_calls_keep_the_framework_answers(replicas: Replicas, upstream: Upstream) -> None:
    """Forwarding bypasses FastAPI's router, yet 405s, request ids and metrics are there."""
    secret, _, _ = upstream.auth.add_key(plan="standard")
    for client in replicas.clients:
        resp = await client.request("TRACE", "/v1/buildings", headers=bearer(secret))
        assert_problem(resp, 405, "method-not-allowed")
        assert {m.strip() for m in resp.headers["allow"].split(",")} == {
            "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
        assert resp.headers["x-request-id"].startswith("req_")
        ok = await client.get("/v1/buildings", headers={**bearer(secret), "x-request-id": "r" * 200})
        assert ok.headers["x-request-id"] == "r" * 128 == ok.json()["headers"]["x-request-id"]
