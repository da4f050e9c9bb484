"""The HTTP skeleton every service shares (the gateway too): the edge middleware, health, metrics, problems.

`EdgeMiddleware` is the one place for what every HTTP call gets, whichever service answers it:
request id and W3C traceparent (into the logs and the answer), one `Host` header only, the body cap (413),
`415` for a body that is not JSON, `HEAD` wherever `GET` is, one log line per call and the request
metrics, labelled by route template. Limits below HTTP (head size, timeouts, connections) are the
server's: see `hearth_kit.server`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hearth_kit.ids import new_request_id
from hearth_kit.problems import install_problem_handlers, problem_response
from hearth_kit.rules import RejectNulInUrl

_REQUEST_LOG = logging.getLogger("hearth.request")

REQUESTS = Counter("hearth_http_requests_total", "HTTP requests", ["service", "method", "route", "status"])
LATENCY = Histogram(
    "hearth_http_request_seconds", "HTTP request latency", ["service", "method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
REQUEST_ID_HEADER = "x-request-id"
# The answering route's template, from a service to the gateway (which labels its own metrics and log line
# with it and never passes it on).
ROUTE_HEADER = "x-hearth-route"
UNMATCHED = "unmatched"

_RID = REQUEST_ID_HEADER.encode()
_ROUTE = ROUTE_HEADER.encode()
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


# ---------------------------------------------------------------- W3C trace context (the one parser)

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def valid_traceparent(value: str | None) -> bool:
    """A W3C `traceparent` the platform passes on: right shape, not version ff, no all-zero ids."""
    m = _TRACEPARENT.match(value or "")
    if m is None:
        return False
    return m.group(1) != "ff" and m.group(2) != "0" * 32 and m.group(3) != "0" * 16


def new_traceparent() -> str:
    """A fresh sampled `traceparent` (one read of the OS's random source for both ids)."""
    ids = secrets.token_hex(24)
    return f"00-{ids[:32]}-{ids[32:]}-01"


# ---------------------------------------------------------------- the edge

def _is_json(content_type: bytes) -> bool:
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))


@dataclass
class EdgeOptions:
    """What the edge checks; the gateway turns off what its upstream services do themselves."""

    service: str
    max_body_bytes: int = 1_048_576
    require_json_bodies: bool = True  # 415 for a POST/PUT/PATCH body that is not JSON
    head_as_get: bool = True  # answer HEAD with the GET route, without the body
    log_requests: bool = True
    announce_route: bool = True  # name the route template in `x-hearth-route` (for the gateway's labels)


class _BodyTooLarge(Exception):
    pass


class EdgeMiddleware:
    """Plain ASGI (not BaseHTTPMiddleware): no task or copy per request, one pass over the headers.

    Downstream code may put `route` (a template) and `org_id` into `scope["state"]` for the log line and the
    metrics; otherwise the route is the matched Starlette route's path (`unmatched` when none matched).
    """

    def __init__(self, app: ASGIApp, *, options: EdgeOptions) -> None:
        self.app = app
        self.options = options
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._histograms: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        opts = self.options
        start = time.perf_counter()
        rid = tp = declared = content_type = None
        hosts = 0
        chunked = False
        for k, v in scope["headers"]:  # (ASGI header names are lower-case bytes)
            if k == _RID:
                rid = v
            elif k == b"traceparent":
                tp = v
            elif k == b"content-length":
                declared = v
            elif k == b"content-type":
                content_type = v
            elif k == b"host":
                hosts += 1
            elif k == b"transfer-encoding":
                chunked = True
        request_id = ((rid.decode("latin-1") if rid else "") or new_request_id())[:128]
        trace = tp.decode("latin-1") if tp else None
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        state["request_id"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id,
                                               traceparent=trace if valid_traceparent(trace) else None)
        method: str = scope["method"]
        status = 0
        rid_header = (_RID, request_id.encode("latin-1"))

        async def tagged_send(msg: Message) -> None:
            nonlocal status
            if msg["type"] == "http.response.start":
                status = msg["status"]
                headers = [*msg.get("headers", ()), rid_header]
                route = _route_of(inner) if opts.announce_route else None
                if route is not None:
                    headers.append((_ROUTE, route.encode("latin-1")))
                msg["headers"] = headers
            elif method == "HEAD" and inner is not scope:
                msg = {**msg, "body": b""}
            await send(msg)

        inner = scope
        refusal: tuple[int, str, str] | None = None
        has_body = chunked or (declared is not None and declared.strip() not in (b"", b"0"))
        if hosts > 1:
            refusal = (400, "a request carries exactly one Host header", "duplicate-host")
        elif declared is not None and (not declared.isdigit() or int(declared) > opts.max_body_bytes):
            if declared.isdigit():
                refusal = (413, f"Request body exceeds {opts.max_body_bytes} bytes", "body-too-large")
            else:
                refusal = (400, "Content-Length is not a number", "bad-content-length")
        elif opts.require_json_bodies and has_body and method in _BODY_METHODS and \
                (content_type is None or not _is_json(content_type)):
            refusal = (415, "send the body as JSON with Content-Type: application/json", "unsupported-media-type")
        elif method == "HEAD" and opts.head_as_get:
            inner = {**scope, "method": "GET"}
        try:
            if refusal is not None:
                status = refusal[0]
                await _problem(scope, receive, send, *refusal, request_id=request_id)
                return
            await self.app(inner, self._limited(receive) if has_body else receive, tagged_send)
        except _BodyTooLarge:
            status = 413
            await _problem(scope, receive, send, 413, f"Request body exceeds {opts.max_body_bytes} bytes",
                           "body-too-large", request_id=request_id)
        except Exception:
            if not status:  # the 500 problem with this call's request id; the server logs the error
                status = 500
                resp = problem_response(Request(scope), status=500,
                                        detail="An unexpected error occurred; it has been logged")
                await resp(scope, receive, tagged_send)
            raise
        finally:
            route = _route_of(inner) or UNMATCHED
            self._observe(method, route, status or 500, time.perf_counter() - start)
            if opts.log_requests and _REQUEST_LOG.isEnabledFor(logging.INFO):
                _log_request(opts.service, method=method, route=route, status=status or 500,
                             seconds=time.perf_counter() - start, request_id=request_id, org_id=state.get("org_id"),
                             traceparent=trace if valid_traceparent(trace) else None)
            structlog.contextvars.unbind_contextvars("request_id", "traceparent")

    def _limited(self, receive: Receive) -> Receive:
        seen = 0
        cap = self.options.max_body_bytes

        async def limited_receive() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > cap:
                    raise _BodyTooLarge
            return msg

        return limited_receive

    def _observe(self, method: str, route: str, status: int, seconds: float) -> None:
        counter = self._counters.get((method, route, status))
        if counter is None:
            counter = self._counters[(method, route, status)] = REQUESTS.labels(
                self.options.service, method, route, str(status))
        histogram = self._histograms.get((method, route))
        if histogram is None:
            histogram = self._histograms[(method, route)] = LATENCY.labels(self.options.service, method, route)
        counter.inc()
        histogram.observe(seconds)


def _log_request(service: str, *, method: str, route: str, status: int, seconds: float, request_id: str,
                 org_id: str | None, traceparent: str | None) -> None:
    """The per-call JSON line, in the shape of every other log line (see `hearth_kit.logging`), written
    directly: through the logging module and structlog's processors it cost ≈ 180 µs of CPU per call (more
    than the gateway's whole forwarding work); this costs ≈ 10 µs, flushed at most every 0.2 s."""
    line = json.dumps({
        "method": method, "route": route, "status": status, "duration_ms": round(seconds * 1000, 2),
        "request_id": request_id, "org_id": org_id, "traceparent": traceparent, "level": "info",
        "logger": "hearth.request", "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "message": "request", "service": service})
    sys.stdout.write(line + "\n")
    global _flush_pending
    if not _flush_pending:  # one flush per 0.2 s at most, not a system call per request
        _flush_pending = True
        asyncio.get_running_loop().call_later(0.2, _flush)


_flush_pending = False


def _flush() -> None:
    global _flush_pending
    _flush_pending = False
    sys.stdout.flush()


def _route_of(scope: Scope) -> str | None:
    state = scope.get("state")
    if state is not None:
        route = state.get("route")
        if route is not None:
            return str(route)
    matched = scope.get("route")
    path = getattr(matched, "path", None)
    return path if isinstance(path, str) else None


async def _problem(scope: Scope, receive: Receive, send: Send, status: int, detail: str, slug: str, *,
                   request_id: str) -> None:
    # (no `Connection: close`: the server reads and drops an unread body itself, and closing while a client
    # still sends would reset the connection before it reads this answer)
    headers = {REQUEST_ID_HEADER: request_id}
    resp = problem_response(Request(scope), status=status, detail=detail, slug=slug, headers=headers)
    await resp(scope, receive, send)


# ---------------------------------------------------------------- 405 with every allowed method

_CANDIDATE_METHODS = ("DELETE", "GET", "OPTIONS", "PATCH", "POST", "PUT")


def allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    """Every method some route of `app` fully matches for this path (HEAD wherever GET). Asked per method,
    so routes inside included routers count too."""
    methods = {m for m in _CANDIDATE_METHODS
               if any(route.matches({**scope, "type": "http", "method": m})[0] == Match.FULL
                      for route in app.router.routes)}
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def _install_405(app: FastAPI) -> None:
    async def method_not_allowed(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, StarletteHTTPException):  # pragma: no cover (registered for 405 only)
            raise exc
        allow = ", ".join(allowed_methods(app, request.scope))
        return problem_response(request, status=405, detail=f"{request.method} is not allowed here; use {allow}",
                                slug="method-not-allowed", headers={"Allow": allow})

    app.add_exception_handler(405, method_not_allowed)


# ---------------------------------------------------------------- the app

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
    """A FastAPI app with problem+json errors, edge middleware, /healthz, /readyz and /metrics.

    `app.state.edge` holds the edge's `EdgeOptions` (the gateway adjusts them).
    """
    # `openapi=False` for an app that serves its own spec (the gateway merges every service's).
    app = FastAPI(title=f"Hearth {service}", version=version, lifespan=lifespan,
                  openapi_url="/openapi.json" if openapi else None,
                  docs_url="/docs" if openapi else None, redoc_url="/redoc" if openapi else None)
    install_problem_handlers(app)
    _install_405(app)
    options = EdgeOptions(service=service, max_body_bytes=max_body_bytes)
    app.state.edge = options
    app.add_middleware(RejectNulInUrl)  # inner to the edge middleware: its 400 still gets a request id
    app.add_middleware(EdgeMiddleware, options=options)
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
    async def metrics(request: Request) -> Response:
        guard = getattr(app.state, "metrics_guard", None)
        if guard is not None:
            await guard(request)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
