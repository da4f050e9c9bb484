"""Builds the gateway from its parts: the kit's service (pool, migrations, health, edge middleware) plus
identity, rate limits, forwarding and WebSockets, each in its own module.

Request path: kit `EdgeMiddleware` (request id, limits, log line, metrics) → `GatewayDispatch` → a routed path
goes to `Forwarder` (HTTP) or `WebSocketRelay`; anything else (`/healthz`, `/readyz`, `/metrics`,
`/openapi.json`, `/docs`, `/internal/jwks.json`, 404s) to FastAPI's router.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from fastapi import FastAPI, Request
from hearth_kit.auth import InternalTokenSigner, SigningKey, jwks
from hearth_kit.problems import Problem
from hearth_kit.runtime import Runtime, create_service, serve
from hearth_kit.upstream import UpstreamClient
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from hearth_gateway.api import router
from hearth_gateway.config import Settings
from hearth_gateway.consumers import auth_events_consumer, rate_counter_pruner
from hearth_gateway.counters import RateCounter
from hearth_gateway.forwarding import Admission, Forwarder
from hearth_gateway.identity import Authenticator, InternalTokens
from hearth_gateway.openapi import OpenApiDocs
from hearth_gateway.ratelimit import RateLimiter
from hearth_gateway.routing import RouteTable
from hearth_gateway.websocket import WebSocketRelay

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def signing_key(settings: Settings) -> SigningKey:
    """The configured Ed25519 key; a fresh one in dev/test when none is set (prod refuses in Settings)."""
    if settings.signing_key_pem:
        return SigningKey.from_pem(settings.signing_key_pem, settings.signing_kid)
    return SigningKey.generate(settings.signing_kid)


@dataclass
class GatewayParts:
    """The gateway's parts, for its own routes and for tests (`app.state.gateway`)."""

    settings: Settings
    signing_key: SigningKey
    routes: RouteTable
    auth: Authenticator
    limiter: RateLimiter
    forwarder: Forwarder
    websockets: WebSocketRelay
    docs: OpenApiDocs


class GatewayDispatch:
    """Routed paths to the forwarder (HTTP) or the WebSocket relay; everything else to the app."""

    def __init__(self, app: ASGIApp, *, parts: GatewayParts) -> None:
        self.app = app
        self.routes = parts.routes
        self.forwarder = parts.forwarder
        self.websockets = parts.websockets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            route = self.routes.match(scope["path"])
            if route is not None:
                await self.forwarder.http(scope, receive, send, route)
                return
        elif kind == "websocket" and self.routes.match(scope["path"]) is not None:
            await self.websockets(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _metrics_guard(settings: Settings) -> Any:
    """/metrics needs the operator key or the metrics token: it is on the public port."""
    accepted = [s.encode() for s in (settings.admin_key, settings.metrics_token) if s]

    async def guard(request: Request) -> None:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        token = value.strip().encode()
        if scheme.lower() != "bearer" or not any(hmac.compare_digest(token, a) for a in accepted):
            raise Problem(401, "metrics need the operator key or HEARTH_GATEWAY_METRICS_TOKEN as a Bearer token",
                          slug="unauthorized", headers={"WWW-Authenticate": 'Bearer realm="hearth-metrics"'})

    return guard


def build_app(settings: Settings | None = None) -> FastAPI:
    """The ASGI app (used by uvicorn and by tests)."""
    settings = settings or Settings()
    key = signing_key(settings)
    if not settings.internal_jwks:  # the kit's verifier needs a JWKS; the gateway trusts its own key
        settings = settings.model_copy(update={"internal_jwks": json.dumps(jwks(key))})
    routes = settings.route_table()
    services = routes.services()
    if settings.auth_service not in services:
        raise ValueError(f"the platform file routes nothing to {settings.auth_service!r} (HEARTH_GATEWAY_AUTH_SERVICE)")
    tokens = InternalTokens(InternalTokenSigner(key, ttl_seconds=settings.internal_token_ttl_seconds))
    auth = Authenticator(
        auth_url=services[settings.auth_service], tokens=tokens, admin_key=settings.admin_key,
        plan_limits=settings.plan_limits, ttl=settings.identity_ttl_seconds, negative_ttl=settings.negative_ttl_seconds,
        lookup_timeout=settings.auth_lookup_timeout_seconds, issuer=settings.auth_token_issuer,
        audience=settings.auth_token_audience, jwks_min_refetch=settings.jwks_min_refetch_seconds)
    limiter = RateLimiter(window_seconds=settings.rate_window_seconds)
    admission = Admission(auth, limiter)
    parts = GatewayParts(
        settings=settings, signing_key=key, routes=routes, auth=auth, limiter=limiter,
        forwarder=Forwarder(routes=routes, admission=admission, tokens=tokens),
        websockets=WebSocketRelay(routes=routes, admission=admission, tokens=tokens),
        docs=OpenApiDocs(services, cache_seconds=settings.openapi_cache_seconds))

    @contextlib.asynccontextmanager
    async def running_gateway(runtime: Runtime) -> AsyncIterator[None]:
        limiter.counter = RateCounter(runtime.db.pool)
        connector = aiohttp.TCPConnector(limit=settings.upstream_pool_size, limit_per_host=0, ttl_dns_cache=300,
                                         keepalive_timeout=30)
        # auto_decompress off: WebSocket and document bodies pass through as sent.
        session = aiohttp.ClientSession(connector=connector, auto_decompress=False,
                                        cookie_jar=aiohttp.DummyCookieJar())
        # The forwarded calls' own client (hearth_kit.upstream); read_timeout bounds each wait for bytes, so a
        # silent upstream is a 504 while a slow but steady stream is not cut off.
        upstream = UpstreamClient(limit_per_origin=settings.upstream_pool_size,
                                  connect_timeout=min(settings.upstream_timeout_seconds, 5.0),
                                  read_timeout=settings.upstream_timeout_seconds)
        auth.session = parts.websockets.session = parts.docs.session = session
        parts.forwarder.upstream = upstream
        try:
            yield
        finally:
            await upstream.close()
            await session.close()

    # FastAPI's own /openapi.json and /docs would describe only the gateway; ours merge every service's.
    app = create_service(
        settings=settings, migrations_dir=MIGRATIONS, routers=[router],
        jobs=[auth_events_consumer(auth), rate_counter_pruner(window_seconds=settings.rate_window_seconds)],
        admin_database_url=os.environ.get("HEARTH_ADMIN_DATABASE_URL"),
        resources=[running_gateway], openapi=False,
    )
    app.state.gateway = parts
    app.state.metrics_guard = _metrics_guard(settings)
    # Services check JSON bodies and answer HEAD themselves; the gateway passes both through as sent.
    app.state.edge.require_json_bodies = False
    app.state.edge.head_as_get = False
    app.state.edge.announce_route = False  # (the route header is for the gateway, never for its callers)
    app.user_middleware.append(Middleware(GatewayDispatch, parts=parts))  # innermost: after the edge's work
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=_METHODS, allow_headers=["*"],
            allow_credentials="*" not in settings.cors_origins,
            expose_headers=["RateLimit-Policy", "RateLimit", "RateLimit-Limit", "RateLimit-Remaining",
                            "RateLimit-Reset", "Retry-After", "x-request-id", "WWW-Authenticate", "Location"])
    return app


def run() -> None:
    """Entry point: `hearth-gateway`."""
    settings = Settings()
    serve(build_app(settings), settings)


if __name__ == "__main__":
    run()
