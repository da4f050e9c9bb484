"""The proxy itself: authenticate, authorize, count, forward (HTTP and WebSocket), map upstream failures.

`/v1/*` is served by plain ASGI (`ProxyEdge` in front of FastAPI): no routing, dependency injection,
`Request` objects or per-layer send wrappers on the hot path. `ProxyEdge` does for these paths exactly what
the kit's `EdgeMiddleware` does for the rest (request id, body cap → 413, request metrics).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode

import aiohttp
import structlog
from hearth_kit.auth import INTERNAL_TOKEN_HEADER
from hearth_kit.http import LATENCY, REQUEST_ID_HEADER, REQUESTS
from hearth_kit.ids import new_request_id
from hearth_kit.logging import get_logger
from hearth_kit.problems import Problem, problem_response
from multidict import CIMultiDict
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from yarl import URL

from hearth_gateway.domain import (
    HOP_BY_HOP_BYTES,
    RateDecision,
    RouteTable,
    authorize,
    bearer_token,
    forward_headers,
    new_traceparent,
    under,
    valid_traceparent,
)
from hearth_gateway.service import Gateway, unauthorized
from hearth_gateway.upstream import UpstreamError, UpstreamProtocolError, UpstreamTimeout

log = get_logger(__name__)

PERMANENT_TOKEN_HEADER = "x-permanent-token"
TOKEN_EXCHANGE_PATH = "/v1/auth/token"
PROXY_PREFIX = "/v1/"
PROXY_ROUTE = "/v1/{path:path}"  # the metrics' route label (and FastAPI's fallback route)
_BUFFER_LIMIT = 256 * 1024  # responses up to this size are read whole; larger or unknown ones stream
# Never forwarded as sent: the gateway sets these itself (or strips them on purpose; `expect` because the
# body is read whole before the upstream is called). Pre-joined with the hop-by-hop names: one set lookup
# per header on the hot path. ASGI header names are lower-case bytes.
_REQUEST_DROP = HOP_BY_HOP_BYTES | frozenset(h.encode() for h in {
    "host", "content-length", "expect", INTERNAL_TOKEN_HEADER, REQUEST_ID_HEADER, "traceparent",
    "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
})
_REQUEST_DROP_CREDENTIALS = _REQUEST_DROP | {b"authorization", PERMANENT_TOKEN_HEADER.encode()}
_RESPONSE_DROP = HOP_BY_HOP_BYTES | frozenset(h.encode() for h in {"content-length", "date", "server",
                                                                  REQUEST_ID_HEADER})
_INTERNAL_TOKEN = INTERNAL_TOKEN_HEADER.encode()
_PERMANENT_TOKEN = PERMANENT_TOKEN_HEADER.encode()
_REQUEST_ID = REQUEST_ID_HEADER.encode()
# Handshake headers of the caller's own WebSocket (aiohttp makes its own for the upstream one).
_WS_DROP = frozenset({b"sec-websocket-key", b"sec-websocket-version", b"sec-websocket-extensions",
                      b"sec-websocket-protocol", b"origin", b"cookie"})
# The kit edge's shape check before a traceparent is bound to the logs.
_TRACEPARENT_SHAPE = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


class BodyTooLarge(Exception):
    """The request body passed the configured cap (answered 413 by `ProxyEdge`)."""


def _problem(request: Request | None, exc: Problem, extra_headers: dict[str, str] | None = None) -> Response:
    headers = {**(exc.headers or {}), **(extra_headers or {})}
    return problem_response(request, status=exc.status, detail=exc.detail, slug=exc.slug, title=exc.title,
                            errors=exc.errors, headers=headers or None, **exc.extra)


def _credential(authorization: str | None, permanent: str | None, *, method: str, path: str,
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


async def _admit(gw: Gateway, *, token: str, method: str, path: str) -> tuple[Any, RateDecision | None]:
    """Authenticate, authorize and count one call; raises a Problem (with rate headers on a 429)."""
    identity = await gw.authenticate(token)
    denial = authorize(method=method, path=path, identity=identity)
    if denial is not None:
        raise Problem(403, denial.detail, slug=denial.slug)
    decision = await gw.count(identity)
    if decision is not None and not decision.allowed:
        raise Problem(429, f"rate limit of {decision.limit} requests per hour reached for this key",
                      slug="rate-limited", headers=decision.headers())
    return identity, decision


def _forward_headers(
    gw: Gateway, raw: list[tuple[bytes, bytes]], drop: frozenset[bytes], *, identity: Any, request_id: str,
    traceparent: bytes | None, client: Any, scheme: str, host: bytes | None,
) -> list[tuple[bytes, bytes]]:
    """The caller's headers minus hop-by-hop ones, those named in `Connection` and `drop`, plus the
    gateway's own: internal token, request id, traceparent (the caller's when valid) and x-forwarded-*."""
    out = forward_headers(raw, drop=drop)
    out.append((_INTERNAL_TOKEN, gw.tokens.for_identity(identity, time.time()).encode("latin-1")))
    out.append((_REQUEST_ID, request_id.encode("latin-1")))
    out.append((b"traceparent", _trace(traceparent)))
    if client:
        out.append((b"x-forwarded-for", str(client[0]).encode("latin-1")))
    out.append((b"x-forwarded-proto", scheme.encode("latin-1")))
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


def _raw_path(scope: Scope) -> str:
    raw_path = scope.get("raw_path") or scope["path"].encode()
    return raw_path.decode("latin-1") if isinstance(raw_path, bytes) else str(raw_path)


def _target(base: str, scope: Scope, query: str) -> URL:
    return URL(base + _raw_path(scope) + (f"?{query}" if query else ""), encoded=True)


class GatewayProxy:
    """The `/v1/*` ASGI app: HTTP calls forwarded with the lean upstream client, WebSockets relayed frame by
    frame (with aiohttp).

    Expects `scope["state"]["request_id"]` from the edge (`ProxyEdge`, or the kit's `EdgeMiddleware` when
    reached through FastAPI's fallback route).
    """

    def __init__(self, gateway: Gateway, routes: RouteTable, *, max_body_bytes: int) -> None:
        self.gateway = gateway
        self.routes = routes
        self.max_body = max_body_bytes
        self._passthrough = tuple(gateway.settings.credential_passthrough_prefixes)
        # The methods FastAPI's `/v1/{path:path}` route accepts (others are 405, as its router answered).
        self.methods: set[str] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await proxy_websocket(WebSocket(scope, receive, send), self.gateway, self.routes)
        else:
            await self.http(scope, receive, send)

    async def _body(self, receive: Receive) -> bytes:
        """The whole request body, capped at `max_body` (`BodyTooLarge`)."""
        chunks: list[bytes] = []
        seen = 0
        while True:
            msg = await receive()
            if msg["type"] == "http.request":
                chunk = msg.get("body", b"")
                if chunk:
                    seen += len(chunk)
                    if seen > self.max_body:
                        raise BodyTooLarge
                    chunks.append(chunk)
                if not msg.get("more_body", False):
                    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
            elif msg["type"] == "http.disconnect":
                raise ClientDisconnect

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Every `/v1/*` HTTP call."""
        gw = self.gateway
        path: str = scope["path"]
        method: str = scope["method"]
        if self.methods is not None and method not in self.methods:
            await problem_response(Request(scope), status=405, detail="Method Not Allowed",
                                   headers={"Allow": ", ".join(self.methods)})(scope, receive, send)
            return
        matched = self.routes.match(path)
        if matched is None:
            await problem_response(Request(scope), status=404, detail=f"no service serves {path}",
                                   slug="not-found")(scope, receive, send)
            return
        # One pass over the (lower-case, ASGI) header names for the few the gateway reads (first occurrence
        # wins, as in Starlette's `Headers.get`).
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
        try:
            token = _credential(authorization.decode("latin-1") if authorization is not None else None,
                                permanent.decode("latin-1") if permanent is not None else None,
                                method=method, path=path)
            identity, decision = await _admit(gw, token=token, method=method, path=path)
        except Problem as exc:
            await _problem(Request(scope), exc)(scope, receive, send)
            return
        if decision is not None:
            rate_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in decision.headers().items()]
        state = scope.get("state")
        request_id = (state.get("request_id") if state else None) or new_request_id()
        drop = _REQUEST_DROP
        if not any(under(path, p) for p in self._passthrough):
            drop = _REQUEST_DROP_CREDENTIALS
        headers = _forward_headers(gw, raw, drop, identity=identity, request_id=request_id,
                                   traceparent=traceparent, client=scope.get("client"),
                                   scheme=scope.get("scheme", "http"), host=host)
        # A request with neither Content-Length nor Transfer-Encoding has no body (RFC 9112 §6.3).
        body = await self._body(receive) if has_body else b""
        query: bytes = scope.get("query_string", b"")
        target: bytes = scope.get("raw_path") or path.encode("latin-1")
        if query:
            target = target + b"?" + query
        try:
            upstream = await gw.upstream.pool(matched[1]).request(method, target, headers, body)
        except UpstreamError as exc:
            await _upstream_failure(Request(scope), exc, service=matched[0],
                                    rate_headers=rate_headers)(scope, receive, send)
            return
        try:
            extra = forward_headers(upstream.headers, drop=_RESPONSE_DROP)
            extra += rate_headers
            status = upstream.status
            length = upstream.content_length
            if method == "HEAD" or status in (204, 304) or (length is not None and length <= _BUFFER_LIMIT):
                try:
                    content = await upstream.read()
                except UpstreamError as exc:
                    await _upstream_failure(Request(scope), exc, service=matched[0],
                                            rate_headers=rate_headers)(scope, receive, send)
                    return
                if method == "HEAD":
                    if length is not None:
                        extra.insert(0, (b"content-length", str(length).encode()))
                elif status not in (204, 304):
                    extra.insert(0, (b"content-length", str(len(content)).encode()))
                await send({"type": "http.response.start", "status": status, "headers": extra})
                await send({"type": "http.response.body", "body": content})
                return
            # Large or of unknown length: streamed. A failure now can only cut the answer short, which the
            # server does by closing the connection when the error propagates (a clean end would pass a
            # truncated body off as whole).
            await send({"type": "http.response.start", "status": status, "headers": extra})
            try:
                async for chunk in upstream.iter_chunks():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except UpstreamError as exc:
                log.warning("upstream failed mid-body", service=matched[0], error=repr(exc))
                raise
            await send({"type": "http.response.body", "body": b""})
        finally:
            upstream.release()  # (a no-op once the body was read to the end)


def _upstream_failure(request: Request, exc: Exception, *, service: str,
                      rate_headers: list[tuple[bytes, bytes]]) -> Response:
    if isinstance(exc, UpstreamTimeout):
        status, slug, detail = 504, "upstream-timeout", f"the service behind {service} did not answer in time"
    elif isinstance(exc, UpstreamProtocolError):
        status, slug, detail = 502, "bad-gateway", f"the service behind {service} answered badly"
    else:
        status, slug, detail = 503, "upstream-unavailable", f"the service behind {service} is unavailable"
    log.warning("upstream call failed", service=service, status=status, error=repr(exc))
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in rate_headers}
    if status == 503:
        headers["Retry-After"] = "1"
    return problem_response(request, status=status, detail=detail, slug=slug,
                            title="Bad Gateway" if status == 502 else None, headers=headers)


class ProxyEdge:
    """The edge of `/v1/*` (served before any FastAPI machinery, see `main.GatewayApp`), then `GatewayProxy`.

    For HTTP it does what the kit's `EdgeMiddleware` and Starlette's `ServerErrorMiddleware` do (same headers,
    problem bodies and metrics):
    request id (the caller's, ≤ 128 chars, or a new one) into `scope["state"]`, the logs and the response;
    traceparent into the logs; `413` past `max_body_bytes` (by `Content-Length` or while reading);
    `hearth_http_requests_total` / `hearth_http_request_seconds` under the route `/v1/{path:path}`; an
    unexpected error is logged and answered with the kit's 500 problem.
    WebSockets go straight to the proxy (the kit's edge passes them through too).
    """

    def __init__(self, proxy: GatewayProxy, *, service: str, max_body_bytes: int) -> None:
        self.proxy = proxy
        self.service = service
        self.max_body = max_body_bytes
        self._counters: dict[tuple[str, int], Any] = {}
        self._histograms: dict[str, Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.proxy(scope, receive, send)
            return
        rid = tp = declared = None
        for k, v in scope["headers"]:  # last occurrence wins, as in the kit's header dict
            if k == b"x-request-id":
                rid = v
            elif k == b"traceparent":
                tp = v
            elif k == b"content-length":
                declared = v
        request_id = (rid.decode("latin-1") if rid else "") or new_request_id()
        request_id = request_id[:128]
        trace = tp.decode("latin-1") if tp else ""
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        state["request_id"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id,
                                               traceparent=trace if valid_traceparent_shape(trace) else None)
        start = time.perf_counter()
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            await self._too_large(scope, receive, send, request_id)
            return
        status = 0
        rid_header = (b"x-request-id", request_id.encode())

        async def tagged_send(msg: Message) -> None:
            nonlocal status
            if msg["type"] == "http.response.start":
                status = msg["status"]
                msg["headers"] = [*msg.get("headers", []), rid_header]
            await send(msg)

        try:
            await self.proxy(scope, receive, tagged_send)
        except BodyTooLarge:
            await self._too_large(scope, receive, send, request_id)
            status = 413
        except Exception:
            # What Starlette's ServerErrorMiddleware does for the rest of the app (one wrapper less here):
            # the kit's 500 problem when nothing was sent yet, and the error re-raised for the server's log.
            log.exception("unhandled error", path=scope["path"])
            if not status:
                await problem_response(None, status=500, detail="An unexpected error occurred; it has been logged",
                                       headers={"x-request-id": request_id})(scope, receive, send)
            status = 500
            raise
        finally:
            method = scope["method"]
            counter = self._counters.get((method, status))
            if counter is None:
                counter = self._counters[(method, status)] = REQUESTS.labels(
                    self.service, method, PROXY_ROUTE, str(status))
            histogram = self._histograms.get(method)
            if histogram is None:
                histogram = self._histograms[method] = LATENCY.labels(self.service, method, PROXY_ROUTE)
            counter.inc()
            histogram.observe(time.perf_counter() - start)
            structlog.contextvars.unbind_contextvars("request_id", "traceparent")

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, rid: str) -> None:
        resp = problem_response(None, status=413, detail=f"Request body exceeds {self.max_body} bytes",
                                slug="body-too-large", headers={"x-request-id": rid})
        await resp(scope, receive, send)


def valid_traceparent_shape(value: str) -> bool:
    """The kit's check before binding a traceparent to the logs (shape only)."""
    return _TRACEPARENT_SHAPE.match(value) is not None


# ---------------------------------------------------------------- WebSocket

async def proxy_websocket(ws: WebSocket, gw: Gateway, routes: RouteTable) -> None:
    """`/v1/*` WebSockets: same authentication (header or `?access_token=`), frames relayed both ways."""
    path = ws.url.path
    matched = routes.match(path)
    if matched is None:
        await ws.send_denial_response(problem_response(None, status=404, detail=f"no service serves {path}"))
        return
    query = parse_qsl(ws.scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    access_token = next((v for k, v in query if k == "access_token"), None)
    try:
        token = _credential(ws.headers.get("authorization"), ws.headers.get(PERMANENT_TOKEN_HEADER),
                            method="GET", path=path, query_token=access_token)
        identity, decision = await _admit(gw, token=token, method="GET", path=path)
    except Problem as exc:
        await ws.send_denial_response(_problem(None, exc))
        return
    request_id = ws.headers.get(REQUEST_ID_HEADER) or new_request_id()
    passthrough = any(under(path, p) for p in gw.settings.credential_passthrough_prefixes)
    drop = (_REQUEST_DROP if passthrough else _REQUEST_DROP_CREDENTIALS) | _WS_DROP
    forwarded = _forward_headers(gw, ws.scope["headers"], drop, identity=identity, request_id=request_id,
                                 traceparent=_header(ws, "traceparent"), client=ws.scope.get("client"),
                                 scheme=ws.url.scheme, host=_header(ws, "host"))
    headers = CIMultiDict((k.decode("latin-1"), v.decode("latin-1")) for k, v in forwarded)
    protocols = [p.strip() for p in ws.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
    rest = urlencode([(k, v) for k, v in query if k != "access_token"])
    base = "ws" + matched[1][len("http"):] if matched[1].startswith("http") else matched[1]
    url = _target(base, ws.scope, rest)
    try:
        upstream = await gw.session.ws_connect(
            url, headers=headers, protocols=protocols, autoping=True, heartbeat=30,
            timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5))
    except Exception as exc:
        status = 504 if isinstance(exc, TimeoutError) else 503
        if isinstance(exc, aiohttp.WSServerHandshakeError) and exc.status < 500:
            status = exc.status
        await ws.send_denial_response(problem_response(None, status=status,
                                                       detail=f"upstream WebSocket refused: {exc}"))
        return
    rate = decision.headers() if decision else {}
    await ws.accept(subprotocol=upstream.protocol,
                    headers=[(k.lower().encode(), v.encode()) for k, v in rate.items()])
    await _relay(ws, upstream)


def _header(ws: WebSocket, name: str) -> bytes | None:
    value = ws.headers.get(name)
    return value.encode("latin-1") if value is not None else None


async def _relay(ws: WebSocket, upstream: aiohttp.ClientWebSocketResponse) -> None:
    async def client_to_upstream() -> None:
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                await upstream.close(code=int(msg.get("code") or 1000))
                return
            if msg.get("text") is not None:
                await upstream.send_str(msg["text"])
            elif msg.get("bytes") is not None:
                await upstream.send_bytes(msg["bytes"])

    async def upstream_to_client() -> None:
        async for msg in upstream:
            if msg.type == aiohttp.WSMsgType.TEXT:
                await ws.send_text(msg.data)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
            else:
                break
        with contextlib.suppress(Exception):
            await ws.close(code=upstream.close_code or 1000)

    tasks = [asyncio.create_task(client_to_upstream()), asyncio.create_task(upstream_to_client())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, Exception):
                await t
        await upstream.close()
