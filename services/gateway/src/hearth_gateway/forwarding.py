"""Forwarding one HTTP call: admit the caller (authenticate, authorize, count), rewrite the headers, send it to
the service with the lean upstream client, pass the answer back, and map upstream failures to problems.

Plain ASGI behind the kit's edge middleware (request id, body cap, log line, metrics): no routing, dependency
injection or `Request` objects on the hot path. Header work is on ASGI's lower-case byte names, one pass each.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import structlog
from hearth_kit.auth import INTERNAL_TOKEN_HEADER
from hearth_kit.http import REQUEST_ID_HEADER, ROUTE_HEADER, new_traceparent, valid_traceparent
from hearth_kit.ids import new_request_id
from hearth_kit.logging import get_logger
from hearth_kit.problems import Problem, problem_response
from hearth_kit.upstream import UpstreamClient, UpstreamError, UpstreamProtocolError, UpstreamTimeout
from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive, Scope, Send

from hearth_gateway.identity import Authenticator, Identity, InternalTokens, unauthorized
from hearth_gateway.policy import TOKEN_EXCHANGE_PATH, authorize, bearer_token
from hearth_gateway.ratelimit import RateDecision, RateLimiter
from hearth_gateway.routing import Route, RouteTable

log = get_logger(__name__)

PERMANENT_TOKEN_HEADER = "x-permanent-token"
_BUFFER_LIMIT = 256 * 1024  # responses up to this size are read whole; larger or unknown ones stream

# Headers that describe one connection, never forwarded by a proxy (RFC 9110 §7.6.1).
HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"proxy-connection", b"te",
    b"trailer", b"trailers", b"transfer-encoding", b"upgrade",
})
# Never forwarded as sent: the gateway sets these itself, or they claim an identity, address or method that
# only the gateway may state (a service behind it must not be talked into trusting them). `expect` because the
# body is read whole before the upstream is called.
REQUEST_DROP = HOP_BY_HOP | frozenset({
    b"host", b"content-length", b"expect", INTERNAL_TOKEN_HEADER.encode(), REQUEST_ID_HEADER.encode(),
    b"traceparent", b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"x-forwarded-port",
    b"x-forwarded-prefix", b"x-forwarded-server", b"forwarded", b"x-real-ip", b"x-client-ip", b"true-client-ip",
    b"x-cluster-client-ip", b"x-original-url", b"x-rewrite-url", b"x-original-uri", b"x-http-method-override",
    b"x-http-method", b"x-method-override", ROUTE_HEADER.encode(),
})
REQUEST_DROP_CREDENTIALS = REQUEST_DROP | {b"authorization", PERMANENT_TOKEN_HEADER.encode(), b"cookie"}
RESPONSE_DROP = HOP_BY_HOP | frozenset({b"content-length", b"date", b"server", REQUEST_ID_HEADER.encode(),
                                        ROUTE_HEADER.encode()})
_NOT_FORWARDED_METHODS = frozenset({"TRACE", "CONNECT"})
_INTERNAL_TOKEN = INTERNAL_TOKEN_HEADER.encode()
_PERMANENT_TOKEN = PERMANENT_TOKEN_HEADER.encode()
_REQUEST_ID = REQUEST_ID_HEADER.encode()
_ROUTE = ROUTE_HEADER.encode()
# Paths whose upstream receives the caller's own credentials (token exchange checks the key itself).
CREDENTIAL_PASSTHROUGH = ("/v1/auth",)


def forward_headers(headers: list[tuple[bytes, bytes]], *, drop: frozenset[bytes]) -> list[tuple[bytes, bytes]]:
    """Headers minus those in `drop` and those the `Connection` header names."""
    for k, v in headers:
        if k == b"connection":
            drop = drop | {t.strip().lower() for t in v.split(b",")}
    return [kv for kv in headers if kv[0] not in drop]


def credential(authorization: str | None, permanent: str | None, *, method: str, path: str,
               query_token: str | None = None) -> str:
    """The token: `Authorization: Bearer`, else `x-permanent-token` (exchange only), else `?access_token`."""
    bearer = bearer_token(authorization)
    if bearer:
        return bearer
    if bearer == "":
        raise unauthorized("Authorization must use the Bearer scheme", error="invalid_request")
    if method == "POST" and path == TOKEN_EXCHANGE_PATH and permanent:
        return permanent.strip()
    if query_token:
        return query_token
    raise unauthorized("missing credentials: send Authorization: Bearer <API key or temporary token>",
                       error=None)


@dataclass
class Admission:
    """What the gateway checks before a call leaves it."""

    auth: Authenticator
    limiter: RateLimiter

    async def admit(self, *, token: str, method: str, path: str) -> tuple[Identity, RateDecision | None]:
        """Authenticate, authorize and count one call; raises a Problem (with rate headers on a 429)."""
        identity = await self.auth.authenticate(token)
        denial = authorize(method=method, path=path, identity=identity)
        if denial is not None:
            raise Problem(403, denial.detail, slug=denial.slug)
        decision = await self.limiter.count(identity)
        if decision is not None and not decision.allowed:
            raise Problem(429, f"rate limit of {decision.limit} requests per hour reached for this key",
                          slug="rate-limited", headers=decision.header_dict())
        return identity, decision


def gateway_headers(raw: list[tuple[bytes, bytes]], drop: frozenset[bytes], *, internal_token: bytes | None,
                    request_id: str, traceparent: bytes | None, scope: Scope, host: bytes | None,
                    ) -> list[tuple[bytes, bytes]]:
    """The caller's headers minus `drop`, plus the gateway's own: internal token, request id, traceparent (the
    caller's when valid) and x-forwarded-for/-proto/-host."""
    out = forward_headers(raw, drop=drop)
    if internal_token is not None:
        out.append((_INTERNAL_TOKEN, internal_token))
    out.append((_REQUEST_ID, request_id.encode("latin-1")))
    out.append((b"traceparent", _trace(traceparent)))
    client = scope.get("client")
    if client:
        out.append((b"x-forwarded-for", str(client[0]).encode("latin-1")))
    out.append((b"x-forwarded-proto", str(scope.get("scheme", "http")).encode("latin-1")))
    if host is not None:
        out.append((b"x-forwarded-host", host))
    return out


def _trace(tp: bytes | None) -> bytes:
    """The caller's traceparent when valid, else a new one (bound to the logs)."""
    if tp is not None and valid_traceparent(tp.decode("latin-1")):
        return tp
    fresh = new_traceparent()
    structlog.contextvars.bind_contextvars(traceparent=fresh)
    return fresh.encode("latin-1")


def public_location(value: bytes, origins: tuple[bytes, ...]) -> bytes:
    """A `Location` that points at a service's own address, made relative (the caller cannot reach it, and it
    must not learn it); any other value unchanged."""
    for origin in origins:
        if value == origin or value.startswith(origin + b"/") or value.startswith(origin + b"?"):
            rest = value[len(origin):]
            return rest if rest.startswith(b"/") else b"/" + rest
    return value


class Forwarder:
    """The ASGI app for every routed path (see `main.GatewayDispatch`)."""

    def __init__(self, *, routes: RouteTable, admission: Admission, tokens: InternalTokens) -> None:
        self.routes = routes
        self.admission = admission
        self.tokens = tokens
        self.upstream: UpstreamClient | None = None  # set while the gateway runs
        self._origins = tuple(sorted({r.base_url.encode("latin-1") for r in routes.routes}, key=len, reverse=True))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.routes.match(scope["path"])
        assert route is not None, "dispatched without a route"
        await self.http(scope, receive, send, route)

    async def http(self, scope: Scope, receive: Receive, send: Send, route: Route) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        state: dict[str, Any] = scope.setdefault("state", {})
        state["route"] = route.prefix  # until the service names its own route template
        if method in _NOT_FORWARDED_METHODS or (route.public and method not in ("GET", "HEAD")):
            allow = "GET, HEAD" if route.public else "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"
            await problem_response(Request(scope), status=405, detail=f"{method} is not allowed here",
                                   slug="method-not-allowed", headers={"Allow": allow})(scope, receive, send)
            return
        # One pass over the headers for the few the gateway reads (first occurrence wins).
        raw: list[tuple[bytes, bytes]] = scope["headers"]
        authorization = permanent = host = traceparent = None
        has_body = False
        for k, v in raw:
            if k == b"authorization":
                if authorization is None:
                    authorization = v
            elif k == b"host":
                if host is None:
                    host = v
            elif k == b"traceparent":
                if traceparent is None:
                    traceparent = v
            elif k == _PERMANENT_TOKEN:
                if permanent is None:
                    permanent = v
            elif k == b"content-length" or k == b"transfer-encoding":
                has_body = True
        rate_headers: list[tuple[bytes, bytes]] = []
        internal_token: bytes | None = None
        if route.public:
            drop = REQUEST_DROP_CREDENTIALS
        else:
            try:
                token = credential(authorization.decode("latin-1") if authorization is not None else None,
                                   permanent.decode("latin-1") if permanent is not None else None,
                                   method=method, path=path)
                identity, decision = await self.admission.admit(token=token, method=method, path=path)
            except Problem as exc:
                await _problem(scope, exc)(scope, receive, send)
                return
            state["org_id"] = identity.org_id
            if decision is not None:
                rate_headers = decision.headers()
            internal_token = self.tokens.for_identity(identity, time.time())
            passthrough = any(path == p or path.startswith(p + "/") for p in CREDENTIAL_PASSTHROUGH)
            drop = REQUEST_DROP if passthrough else REQUEST_DROP_CREDENTIALS
        request_id = state.get("request_id") or new_request_id()
        headers = gateway_headers(raw, drop, internal_token=internal_token, request_id=request_id,
                                  traceparent=traceparent, scope=scope, host=host)
        # A request with neither Content-Length nor Transfer-Encoding has no body (RFC 9112 §6.3).
        body = await _read_body(receive) if has_body else b""
        query: bytes = scope.get("query_string", b"")
        target: bytes = scope.get("raw_path") or path.encode("latin-1")
        if query:
            target = target + b"?" + query
        assert self.upstream is not None, "gateway not started"
        try:
            upstream = await self.upstream.pool(route.base_url).request(method, target, headers, body)
        except UpstreamError as exc:
            await _upstream_failure(scope, exc, route=route, rate_headers=rate_headers)(scope, receive, send)
            return
        try:
            out: list[tuple[bytes, bytes]] = []
            for k, v in upstream.headers:
                if k == _ROUTE:
                    state["route"] = v.decode("latin-1")
                elif k == b"location" or k == b"content-location":
                    out.append((k, public_location(v, self._origins)))
                else:
                    out.append((k, v))
            out = forward_headers(out, drop=RESPONSE_DROP)
            out += rate_headers
            status = upstream.status
            length = upstream.content_length
            if method == "HEAD" or status in (204, 304) or (length is not None and length <= _BUFFER_LIMIT):
                try:
                    content = await upstream.read()
                except UpstreamError as exc:
                    await _upstream_failure(scope, exc, route=route, rate_headers=rate_headers)(scope, receive, send)
                    return
                if method == "HEAD":
                    if length is not None:
                        out.insert(0, (b"content-length", str(length).encode()))
                elif status not in (204, 304):
                    out.insert(0, (b"content-length", str(len(content)).encode()))
                await send({"type": "http.response.start", "status": status, "headers": out})
                await send({"type": "http.response.body", "body": content})
                return
            # Large or of unknown length: streamed. A failure now can only cut the answer short, which the
            # server does by closing the connection when the error propagates (a clean end would pass a
            # truncated body off as whole).
            await send({"type": "http.response.start", "status": status, "headers": out})
            try:
                async for chunk in upstream.iter_chunks():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except UpstreamError as exc:
                log.warning("upstream failed mid-body", service=route.service, error=repr(exc))
                raise
            await send({"type": "http.response.body", "body": b""})
        finally:
            upstream.release()  # (a no-op once the body was read to the end)


async def _read_body(receive: Receive) -> bytes:
    """The whole request body (the edge middleware's receive enforces the size cap)."""
    chunks: list[bytes] = []
    while True:
        msg = await receive()
        if msg["type"] == "http.request":
            chunk = msg.get("body", b"")
            if chunk:
                chunks.append(chunk)
            if not msg.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        elif msg["type"] == "http.disconnect":
            raise ClientDisconnect


def _problem(scope: Scope, exc: Problem) -> Any:
    return problem_response(Request(scope), status=exc.status, detail=exc.detail, slug=exc.slug, title=exc.title,
                            errors=exc.errors, headers=exc.headers or None, **exc.extra)


def _upstream_failure(scope: Scope, exc: Exception, *, route: Route,
                      rate_headers: list[tuple[bytes, bytes]]) -> Any:
    if isinstance(exc, UpstreamTimeout):
        status, slug, detail = 504, "upstream-timeout", f"the {route.service} service did not answer in time"
    elif isinstance(exc, UpstreamProtocolError):
        status, slug, detail = 502, "bad-gateway", f"the {route.service} service answered badly"
    else:
        status, slug, detail = 503, "upstream-unavailable", f"the {route.service} service is unavailable"
    log.warning("upstream call failed", service=route.service, status=status, error=repr(exc))
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in rate_headers}
    if status == 503:
        headers["Retry-After"] = "1"
    return problem_response(Request(scope), status=status, detail=detail, slug=slug,
                            title="Bad Gateway" if status == 502 else None, headers=headers)
