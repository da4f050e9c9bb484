"""Two gateway replicas on one schema, a fake upstream service and a fake auth-token, all on real sockets."""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from aiohttp import WSMsgType, web
from fastapi import FastAPI
from hearth_gateway.main import build_app
from hearth_gateway.service import Gateway
from hearth_kit.auth import SigningKey, jwks
from hearth_kit.ids import new_id
from hearth_kit.testing import Infra, ServiceHarness, service_harness
from hearth_kit.testing.infra import free_port
from hearth_kit.testing.plugin import unique_schema


@dataclass
class FakeAuth:
    """What the fake auth-token knows: key hashes → identities, and the key that signs temporary tokens."""

    signing_key: SigningKey = field(default_factory=lambda: SigningKey.generate("auth-test-1"))
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)
    lookup_tokens: list[str] = field(default_factory=list)

    def add_key(self, *, role: str = "manager", limit: int | None = 5, scopes: list[str] | None = None,
                plan: str = "test") -> tuple[str, str, str]:
        """(secret, key id, org id) of a fresh key."""
        secret = "hk_test_" + secrets.token_urlsafe(24)
        key_id, org = new_id("key"), new_id("org")
        self.keys[hashlib.sha256(secret.encode()).hexdigest()] = {
            "key_id": key_id, "org_id": org, "role": role, "scopes": scopes or [], "plan": plan,
            "rate_limit_per_hour": limit, "revoked": False,
        }
        return secret, key_id, org

    def temporary_token(self, *, key_id: str, org: str, role: str = "manager", limit: int | None = 5,
                        expires_in: int = 3600, **over: Any) -> str:
        now = int(time.time())
        claims = {"iss": "hearth-auth", "aud": "hearth-api", "sub": key_id, "org": org, "role": role,
                  "scopes": [], "plan": "test", "rate_limit_per_hour": limit, "iat": now - 10,
                  "exp": now + expires_in, **over}
        return self.signing_key.sign(claims)


AUTH = web.AppKey("auth", FakeAuth)
SEEN = web.AppKey("seen", list)


@dataclass
class Upstream:
    url: str
    auth: FakeAuth
    seen: list[dict[str, Any]]


async def _echo(request: web.Request) -> web.StreamResponse:
    seen: list[dict[str, Any]] = request.app[SEEN]
    body = await request.read()
    record = {"method": request.method, "path": request.path, "query": request.rel_url.raw_query_string,
              "headers": {k.lower(): v for k, v in request.headers.items()}, "body_len": len(body)}
    seen.append(record)
    if request.path.startswith("/v1/slow"):
        await asyncio.sleep(2)
    if request.path.startswith("/v1/big/cut"):  # promises a megabyte, sends 300 kB, hangs up
        cut = web.StreamResponse(headers={"content-type": "application/octet-stream"})
        cut.content_length = 1_000_000
        await cut.prepare(request)
        await cut.write(b"x" * 300_000)
        assert request.transport is not None
        request.transport.close()
        return cut
    if request.path.startswith("/v1/big"):
        return web.Response(body=b"x" * 1_000_000, content_type="application/octet-stream")
    return web.json_response(record)


async def _ws(request: web.Request) -> web.StreamResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    await ws.send_json({"headers": {k.lower(): v for k, v in request.headers.items()},
                        "query": request.rel_url.raw_query_string})
    async for msg in ws:
        if msg.type == WSMsgType.TEXT:
            await ws.send_str("echo:" + msg.data)
        elif msg.type == WSMsgType.BINARY:
            await ws.send_bytes(msg.data[::-1])
    return ws


async def _by_hash(request: web.Request) -> web.Response:
    auth: FakeAuth = request.app[AUTH]
    digest = request.match_info["digest"]
    auth.lookups.append(digest)
    auth.lookup_tokens.append(request.headers.get("x-hearth-internal-token", ""))
    data = auth.keys.get(digest)
    if data is None:
        return web.json_response({"type": "about:blank", "status": 404}, status=404)
    return web.json_response({"data": data})


async def _jwks(request: web.Request) -> web.Response:
    return web.json_response(jwks(request.app[AUTH].signing_key))


async def _openapi(request: web.Request) -> web.Response:
    return web.json_response({"openapi": "3.1.0", "info": {"title": "fake", "version": "1"},
                              "paths": {"/v1/things": {"get": {"responses": {"200": {"description": "ok"}}}}},
                              "components": {"schemas": {"Thing": {"type": "object"}}}})


@pytest.fixture(scope="module")
async def upstream() -> AsyncIterator[Upstream]:
    """A real HTTP server: echoes /v1/*, sleeps on /v1/slow, WS echo on /v1/stream, fake auth-token lookups."""
    app = web.Application(client_max_size=8 * 1024 * 1024)
    auth = FakeAuth()
    app[AUTH], app[SEEN] = auth, []
    app.router.add_get("/internal/v1/api-keys/by-hash/{digest}", _by_hash)
    app.router.add_get("/.well-known/jwks.json", _jwks)
    app.router.add_get("/openapi.json", _openapi)
    app.router.add_get("/v1/stream/{tail:.*}", _ws)
    app.router.add_route("*", "/v1/{tail:.*}", _echo)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield Upstream(url=f"http://127.0.0.1:{port}", auth=auth, seen=app[SEEN])
    finally:
        await runner.cleanup()


@dataclass
class Replicas:
    a: ServiceHarness  # in-process over ASGI
    b_url: str  # a real uvicorn server (sockets, WebSocket)
    b: httpx.AsyncClient
    apps: tuple[FastAPI, FastAPI]
    admin_key: str

    def gateway(self, i: int) -> Gateway:
        gw: Gateway = self.apps[i].state.gateway
        return gw

    @property
    def clients(self) -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
        return self.a.client, self.b


@pytest.fixture(scope="module")
async def replicas(infra: Infra, upstream: Upstream) -> AsyncIterator[Replicas]:
    """Two gateway replicas sharing one schema (so one set of rate counters), as in production."""
    dead = f"http://127.0.0.1:{free_port()}"
    owned = ("/v1/buildings", "/v1/units", "/v1/leases", "/v1/residents", "/v1/agents", "/v1/admin", "/v1/auth",
             "/v1/slow", "/v1/big", "/v1/stream")
    routes = dict.fromkeys(owned, upstream.url)
    routes["/v1/down"] = dead
    admin_key = "hk_operator_" + secrets.token_urlsafe(24)
    with pytest.MonkeyPatch.context() as mp:
        for k, v in {
            "HEARTH_GATEWAY_ROUTES": json.dumps(routes),
            "HEARTH_GATEWAY_SERVICES": json.dumps({"fake": upstream.url, "dead": dead}),
            "HEARTH_GATEWAY_AUTH_URL": upstream.url,
            "HEARTH_GATEWAY_ADMIN_KEY": admin_key,
            "HEARTH_GATEWAY_UPSTREAM_TIMEOUT_SECONDS": "0.5",
            "HEARTH_GATEWAY_CORS_ORIGINS": '["https://app.example"]',
            "HEARTH_GATEWAY_SIGNING_KEY_PEM": SigningKey.generate("x").private_pem(),
        }.items():
            mp.setenv(k, v)
        async with service_harness(infra, schema=unique_schema("gateway"), prefix="HEARTH_GATEWAY_",
                                   build_app=build_app, monkeypatch_env=mp.setenv) as a:
            app_b = build_app()  # same env: same schema, role, password and signing key
            port = free_port()
            server = uvicorn.Server(uvicorn.Config(app_b, host="127.0.0.1", port=port, log_config=None,
                                                   lifespan="on", ws="websockets"))
            task = asyncio.create_task(server.serve())
            try:
                for _ in range(600):
                    if server.started:
                        break
                    if task.done():
                        task.result()
                    await asyncio.sleep(0.05)
                base = f"http://127.0.0.1:{port}"
                async with httpx.AsyncClient(base_url=base, timeout=10) as b:
                    r = Replicas(a=a, b_url=base, b=b, apps=(a.app, app_b), admin_key=admin_key)
                    for i in (0, 1):
                        await asyncio.wait_for(r.gateway(i).events_ready.wait(), timeout=30)
                    yield r
            finally:
                server.should_exit = True
                await asyncio.wait_for(task, timeout=30)


__all__ = ["FakeAuth", "Replicas", "Upstream"]
