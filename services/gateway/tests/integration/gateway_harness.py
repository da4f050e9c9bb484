"""Two gateway replicas on one schema, a fake upstream service and a fake auth-token, all on real sockets."""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from aiohttp import WSMsgType, web
from fastapi import FastAPI
from hearth_gateway.main import GatewayParts, build_app
from hearth_kit.auth import SigningKey, jwks
from hearth_kit.ids import new_id
from hearth_kit.server import server_config
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

    def add_key(self, *, role: str = "manager", scopes: list[str] | None = None,
                plan: str = "test") -> tuple[str, str, str]:
        """(secret, key id, org id) of a fresh key; its hourly limit is its plan's (test: 5, standard: 1000).
        The answers carry a deliberately wrong `rate_limit_per_hour`: the gateway must use the plan table."""
        secret = "hk_test_" + secrets.token_urlsafe(24)
        key_id, org = new_id("key"), new_id("org")
        self.keys[hashlib.sha256(secret.encode()).hexdigest()] = {
            "key_id": key_id, "org_id": org, "role": role, "scopes": scopes or [], "plan": plan,
            "rate_limit_per_hour": 424242, "revoked": False,
        }
        return secret, key_id, org

    def revoke(self, key_id: str) -> str:
        """Revoke a key in auth-token's "database" only (no event); returns its hash."""
        digest, data = next((h, d) for h, d in self.keys.items() if d["key_id"] == key_id)
        data["revoked"] = True
        return digest

    def by_id(self, org: str, key_id: str) -> dict[str, Any] | None:
        return next((d for d in self.keys.values() if d["key_id"] == key_id and d["org_id"] == org), None)

    def temporary_token(self, *, key_id: str, org: str, role: str = "manager",
                        expires_in: int = 3600, **over: Any) -> str:
        now = int(time.time())
        claims = {"iss": "hearth-auth", "aud": "hearth-api", "sub": key_id, "org": org, "role": role,
                  "scopes": [], "plan": "test", "iat": now - 10, "exp": now + expires_in, **over}
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
    if request.path.startswith("/v1/crash"):  # what uvicorn does after an app error: answer, then hang up
        assert request.transport is not None
        transport = request.transport
        transport.pause_reading()  # the next request on this connection is never read
        asyncio.get_running_loop().call_later(0.3, transport.close)
        return web.json_response({"type": "about:blank", "status": 500}, status=500)
    if request.path.startswith("/v1/redirect"):
        return web.Response(status=307, headers={"Location": f"{request.scheme}://{request.host}/v1/buildings?x=1"})
    if request.path.startswith("/v1/templated/"):
        return web.json_response(record, headers={"x-hearth-route": "/v1/templated/{thing_id}"})
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


async def _by_id(request: web.Request) -> web.Response:
    auth: FakeAuth = request.app[AUTH]
    auth.lookups.append(request.match_info["key_id"])
    data = auth.by_id(request.match_info["org"], request.match_info["key_id"])
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
    app.router.add_get("/internal/v1/orgs/{org}/api-keys/{key_id}", _by_id)
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
    b_url: str  # a real uvicorn server with the kit's server settings (sockets, WebSocket)
    b: httpx.AsyncClient
    apps: tuple[FastAPI, FastAPI]
    admin_key: str

    def gateway(self, i: int) -> GatewayParts:
        parts: GatewayParts = self.apps[i].state.gateway
        return parts

    @property
    def clients(self) -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
        return self.a.client, self.b


OWNED = ("/v1/buildings", "/v1/units", "/v1/leases", "/v1/residents", "/v1/agents", "/v1/slow", "/v1/big",
         "/v1/stream", "/v1/crash", "/v1/redirect", "/v1/templated")


def platform_file(tmp: Path) -> Path:
    """A platform file like deploy/platform.toml, routing to the fake services."""
    path = tmp / "platform.toml"
    path.write_text(
        '[services.auth-token]\nport = 1\nroutes = ["/v1/auth", "/v1/admin", "/.well-known"]\n'
        f'[services.fake]\nport = 2\nroutes = {json.dumps(list(OWNED))}\n'
        '[services.dead]\nport = 3\nroutes = ["/v1/down"]\n'
        '[services.gateway]\nport = 4\nroutes = []\n')
    return path


@asynccontextmanager
async def real_server(app: Any) -> AsyncIterator[str]:
    """`app` under uvicorn as the kit's `serve()` runs it; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(server_config(app, host="127.0.0.1", port=port, lifespan="on", ws="websockets"))
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(600):
            if server.started:
                break
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=30)


@pytest.fixture(scope="module")
async def replicas(infra: Infra, upstream: Upstream, tmp_path_factory: pytest.TempPathFactory,
                   ) -> AsyncIterator[Replicas]:
    """Two gateway replicas sharing one schema (so one set of rate counters), as in production."""
    dead = f"http://127.0.0.1:{free_port()}"
    admin_key = "hk_operator_" + secrets.token_urlsafe(24)
    with pytest.MonkeyPatch.context() as mp:
        for k, v in {
            "HEARTH_GATEWAY_PLATFORM_FILE": str(platform_file(tmp_path_factory.mktemp("platform"))),
            "HEARTH_GATEWAY_UPSTREAMS": json.dumps({"auth-token": upstream.url, "fake": upstream.url, "dead": dead}),
            "HEARTH_GATEWAY_ADMIN_KEY": admin_key,
            "HEARTH_GATEWAY_UPSTREAM_TIMEOUT_SECONDS": "0.5",
            "HEARTH_GATEWAY_IDENTITY_TTL_SECONDS": "1",
            "HEARTH_GATEWAY_CORS_ORIGINS": '["https://app.example"]',
            "HEARTH_GATEWAY_SIGNING_KEY_PEM": SigningKey.generate("x").private_pem(),
        }.items():
            mp.setenv(k, v)
        async with service_harness(infra, schema=unique_schema("gateway"), prefix="HEARTH_GATEWAY_",
                                   build_app=build_app, monkeypatch_env=mp.setenv) as a:
            app_b = build_app()  # same env: same schema, role, password and signing key
            async with real_server(app_b) as base, httpx.AsyncClient(base_url=base, timeout=10) as b:
                r = Replicas(a=a, b_url=base, b=b, apps=(a.app, app_b), admin_key=admin_key)
                for i in (0, 1):
                    await asyncio.wait_for(r.gateway(i).auth.events_ready.wait(), timeout=30)
                yield r


__all__ = ["FakeAuth", "Replicas", "Upstream", "real_server"]
