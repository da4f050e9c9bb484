"""The HTTP skeleton every service shares: middleware, health, metrics, problem handlers."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hearth_kit.ids import new_request_id
from hearth_kit.problems import install_problem_handlers, problem_response
from hearth_kit.rules import RejectNulInUrl

REQUESTS = Counter("hearth_http_requests_total", "HTTP requests", ["service", "method", "route", "status"])
LATENCY = Histogram(
    "hearth_http_request_seconds", "HTTP request latency", ["service", "method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
REQUEST_ID_HEADER = "x-request-id"


class _BodyTooLarge(Exception):
    pass


class EdgeMiddleware:
    """Request id + traceparent into logs and responses, body size cap (413), request metrics.

    Plain ASGI (not BaseHTTPMiddleware) so it adds no task or copy per request.
    """

    def __init__(self, app: ASGIApp, *, service: str, max_body_bytes: int) -> None:
        self.app = app
        self.service = service
        self.max_body = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        rid = headers.get(REQUEST_ID_HEADER) or new_request_id()
        rid = rid[:128]
        tp = headers.get("traceparent", "")
        scope.setdefault("state", {})["request_id"] = rid
        structlog.contextvars.bind_contextvars(request_id=rid, traceparent=tp if _TRACEPARENT.match(tp) else None)
        start = time.perf_counter()
        status_holder = [500]
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            await self._too_large(scope, receive, send, rid)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_body:
                    raise _BodyTooLarge
            return msg

        async def tagged_send(msg: Message) -> None:
            if msg["type"] == "http.response.start":
                status_holder[0] = msg["status"]
                msg["headers"] = [*msg.get("headers", []), (b"x-request-id", rid.encode())]
            await send(msg)

        try:
            await self.app(scope, limited_receive, tagged_send)
        except _BodyTooLarge:
            await self._too_large(scope, receive, send, rid)
            status_holder[0] = 413
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            elapsed = time.perf_counter() - start
            REQUESTS.labels(self.service, scope["method"], path, str(status_holder[0])).inc()
            LATENCY.labels(self.service, scope["method"], path).observe(elapsed)
            structlog.contextvars.unbind_contextvars("request_id", "traceparent")

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, rid: str) -> None:
        resp = problem_response(None, status=413, detail=f"Request body exceeds {self.max_body} bytes",
                                slug="body-too-large", headers={"x-request-id": rid})
        await resp(scope, receive, send)


ReadinessCheck = Callable[[], Awaitable[bool]]


def create_http_app(
    *,
    service: str,
    version: str = "0.1.0",
    max_body_bytes: int = 1_048_576,
    readiness: dict[str, ReadinessCheck] | None = None,
    lifespan: Any = None,
    openapi: bool = True,
) -> FastAPI:
    """A FastAPI app with problem+json errors, edge middleware, /healthz, /readyz and /metrics."""
    # `openapi=False` for an app that serves its own spec (the gateway merges every service's).
    app = FastAPI(title=f"Hearth {service}", version=version, lifespan=lifespan,
                  openapi_url="/openapi.json" if openapi else None,
                  docs_url="/docs" if openapi else None, redoc_url="/redoc" if openapi else None)
    install_problem_handlers(app)
    app.add_middleware(RejectNulInUrl)  # inner to the edge middleware: its 400 still gets a request id
    app.add_middleware(EdgeMiddleware, service=service, max_body_bytes=max_body_bytes)
    checks = readiness if readiness is not None else {}
    app.state.readiness = checks

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        results = {name: await check() for name, check in app.state.readiness.items()}
        ok = all(results.values())
        if ok:
            return Response(content='{"status":"ready"}', media_type="application/json")
        failing = ", ".join(n for n, v in results.items() if not v)
        return problem_response(None, status=503, detail=f"not ready: {failing}", checks=results)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
