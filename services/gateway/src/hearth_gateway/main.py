"""Builds the gateway: the kit's runtime (pool, migrations, health) plus the proxy, auth and CORS."""

from __future__ import annotations

import contextlib
import gc
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

from fastapi import FastAPI
from hearth_kit.auth import SigningKey, jwks
from hearth_kit.runtime import Runtime, create_service, serve
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from hearth_gateway.api import router
from hearth_gateway.config import Settings
from hearth_gateway.consumers import auth_events_consumer, rate_counter_pruner
from hearth_gateway.domain import RouteTable
from hearth_gateway.proxy import PROXY_PREFIX, PROXY_ROUTE, GatewayProxy, ProxyEdge
from hearth_gateway.service import Gateway

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def signing_key(settings: Settings) -> SigningKey:
    """The configured Ed25519 key; a fresh one in dev/test when none is set (prod refuses in Settings)."""
    if settings.signing_key_pem:
        return SigningKey.from_pem(settings.signing_key_pem, settings.signing_kid)
    return SigningKey.generate(settings.signing_kid)


class GatewayApp(FastAPI):
    """The kit's FastAPI app, except that `/v1/*` goes straight to the plain-ASGI proxy.

    A forwarded call skips FastAPI's per-request telemetry check, Starlette's middleware stack, routing,
    dependency injection and `Request` objects; FastAPI keeps everything else (`/healthz`, `/readyz`,
    `/metrics`, `/openapi.json`, `/docs`, `/internal/jwks.json`) and the lifespan.
    """

    proxy_app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        proxy = self.proxy_app
        if proxy is not None and scope["type"] != "lifespan" and scope["path"].startswith(PROXY_PREFIX):
            scope["app"] = self
            await proxy(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def build_app(settings: Settings | None = None) -> FastAPI:
    """The ASGI app (used by uvicorn and by tests)."""
    settings = settings or Settings()
    key = signing_key(settings)
    if not settings.internal_jwks:  # the kit's verifier needs a JWKS; the gateway trusts its own key
        settings = settings.model_copy(update={"internal_jwks": json.dumps(jwks(key))})
    gateway = Gateway(settings, key)

    @contextlib.asynccontextmanager
    async def running_gateway(runtime: Runtime) -> AsyncIterator[None]:
        await gateway.start(runtime.db.pool)
        # Start-up objects live forever: keep them out of the cyclic GC's scans (shorter pauses).
        gc.freeze()
        try:
            yield
        finally:
            await gateway.stop()

    # FastAPI's own /openapi.json and /docs would describe only the gateway; ours merge every service.
    app = create_service(
        settings=settings, migrations_dir=MIGRATIONS, routers=[router],
        jobs=[auth_events_consumer(gateway), rate_counter_pruner(gateway)],
        admin_database_url=os.environ.get("HEARTH_ADMIN_DATABASE_URL"),
        resources=[running_gateway], openapi=False,
    )
    routes = RouteTable(settings.routes)
    proxy = GatewayProxy(gateway, routes, max_body_bytes=settings.max_body_bytes)
    # The routes stay registered for FastAPI's slash redirect (`/v1` → `/v1/`) and as a fallback (where the
    # kit's edge middleware does the edge work); `/v1/*` itself is answered by `GatewayApp.proxy_app`.
    fallback = Route(PROXY_ROUTE, proxy, methods=_METHODS, include_in_schema=False)
    proxy.methods = fallback.methods  # same 405s (and `Allow` header) as the route gave
    app.router.routes.append(fallback)
    app.router.routes.append(WebSocketRoute(PROXY_ROUTE, proxy))
    app.state.gateway = gateway
    app.state.routes = routes
    front: ASGIApp = ProxyEdge(proxy, service=settings.service_name, max_body_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        cors: dict[str, Any] = {
            "allow_origins": settings.cors_origins, "allow_methods": _METHODS, "allow_headers": ["*"],
            "allow_credentials": "*" not in settings.cors_origins,
            "expose_headers": ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After",
                               "x-request-id", "WWW-Authenticate"],
        }
        app.add_middleware(CORSMiddleware, **cors)
        front = CORSMiddleware(front, **cors)
    app.__class__ = GatewayApp  # the kit builds a plain FastAPI; GatewayApp only adds the `/v1/*` branch
    cast(GatewayApp, app).proxy_app = front
    return app


def run() -> None:
    """Entry point: `hearth-gateway`."""
    settings = Settings()
    serve(build_app(settings), settings)


if __name__ == "__main__":
    run()
