"""The proxy itself: authenticate, authorize, count, forward (HTTP and WebSocket), map upstream failures."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

import aiohttp
import structlog
from hearth_kit.auth import INTERNAL_TOKEN_HEADER
from hearth_kit.http import REQUEST_ID_HEADER
from hearth_kit.ids import new_id
from hearth_kit.logging import get_logger
from hearth_kit.problems import Problem, problem_response
from multidict import CIMultiDict
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.websockets import WebSocket, WebSocketDisconnect
from yarl import URL

from hearth_gateway.domain import (
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

log = get_logger(__name__)

PERMANENT_TOKEN_HEADER = "x-permanent-token"
TOKEN_EXCHANGE_PATH = "/v1/auth/token"
_BUFFER_LIMIT = 256 * 1024  # responses up to this size are read whole; larger or unknown ones stream
_SKIP_AUTO = frozenset({"Accept", "Accept-Encoding", "User-Agent", "Content-Type"})
# Never forwarded as sent: the gateway sets these itself (or strips them on purpose).
_REQUEST_DROP = frozenset({
    "host", "content-length", INTERNAL_TOKEN_HEADER, REQUEST_ID_HEADER, "traceparent",
    "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
})
_CREDENTIALS = frozenset({"authorization", PERMANENT_TOKEN_HEADER})
_RESPONSE_DROP = frozenset({"content-length", "date", "server", REQUEST_ID_HEADER})


def _gateway(conn: Request | WebSocket) -> Gateway:
    return conn.app.state.gateway  # type: ignore[no-any-return]


def _problem(request: Request | None, exc: Problem, extra_headers: dict[str, str] | None = None) -> Response:
    headers = {**(exc.headers or {}), **(extra_headers or {})}
    return problem_response(request, status=exc.status, detail=exc.detail, slug=exc.slug, title=exc.title,
                            errors=exc.errors, headers=headers or None, **exc.extra)


def _credential(headers: Any, *, method: str, path: str, query_token: str | None = None) -> str:
    """The token: `Authorization: Bearer`, else `x-permanent-token` (exchange only), else `?access_token`."""
    bearer = bearer_token(headers.get("authorization"))
    if bearer:
        return bearer
    if bearer == "":
        raise unauthorized("Authorization must use the Bearer scheme", error="invalid_request")
    if method == "POST" and path == TOKEN_EXCHANGE_PATH and headers.get(PERMANENT_TOKEN_HEADER):
        return str(headers[PERMANENT_TOKEN_HEADER]).strip()
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


def _upstream_headers(
    gw: Gateway, *, raw: list[tuple[str, str]], path: str, identity: Any, request_id: str,
    traceparent: str, client_host: str | None, scheme: str, host: str | None,
) -> CIMultiDict[str]:
    drop = _REQUEST_DROP
    if not any(under(path, p) for p in gw.settings.credential_passthrough_prefixes):
        drop = drop | _CREDENTIALS
    out: CIMultiDict[str] = CIMultiDict(forward_headers(raw, drop=drop))
    out[INTERNAL_TOKEN_HEADER] = gw.tokens.for_identity(identity, time.time())
    out[REQUEST_ID_HEADER] = request_id
    out["traceparent"] = traceparent
    if client_host:
        out["x-forwarded-for"] = client_host
    out["x-forwarded-proto"] = scheme
    if host:
        out["x-forwarded-host"] = host
    return out


def _trace(headers: Any) -> str:
    tp = headers.get("traceparent")
    if not valid_traceparent(tp):
        tp = new_traceparent()
        structlog.contextvars.bind_contextvars(traceparent=tp)
    return str(tp)


def _target(base: str, scope: MutableMapping[str, Any], query: str) -> URL:
    raw_path = scope.get("raw_path") or scope["path"].encode()
    path = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else str(raw_path)
    return URL(base + path + (f"?{query}" if query else ""), encoded=True)


async def proxy_http(request: Request) -> Response:
    """Every `/v1/*` HTTP call."""
    gw = _gateway(request)
    path, method = request.scope["path"], request.scope["method"]
    routes: RouteTable = request.app.state.routes
    matched = routes.match(path)
    if matched is None:
        return problem_response(request, status=404, detail=f"no service serves {path}", slug="not-found")
    rate_headers: dict[str, str] = {}
    try:
        token = _credential(request.headers, method=method, path=path)
        identity, decision = await _admit(gw, token=token, method=method, path=path)
    except Problem as exc:
        return _problem(request, exc)
    if decision is not None:
        rate_headers = decision.headers()
    request_id = getattr(request.state, "request_id", None) or new_id("req")
    raw = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.scope["headers"]]
    headers = _upstream_headers(gw, raw=raw, path=path, identity=identity, request_id=request_id,
                                traceparent=_trace(request.headers),
                                client_host=request.client.host if request.client else None,
                                scheme=request.scope.get("scheme", "http"), host=request.headers.get("host"))
    body = await request.body()  # capped by the edge middleware (413 past max_body_bytes)
    url = _target(matched[1], request.scope, request.scope.get("query_string", b"").decode("latin-1"))
    try:
        upstream = await gw.session.request(method, url, headers=headers, data=body or None,
                                            allow_redirects=False, timeout=gw.upstream_timeout,
                                            skip_auto_headers=_SKIP_AUTO)
    except Exception as exc:
        return _upstream_failure(request, exc, service=matched[0], rate_headers=rate_headers)
    out_headers = forward_headers([(k, v) for k, v in upstream.headers.items()], drop=_RESPONSE_DROP)
    extra = [(k.lower().encode("latin-1"), v.encode("latin-1"))
             for k, v in [*out_headers, *rate_headers.items()]]
    length = upstream.content_length
    try:
        if method == "HEAD" or upstream.status in (204, 304):
            upstream.release()
            response = Response(status_code=upstream.status)
            response.raw_headers = [h for h in response.raw_headers if h[0] != b"content-length"]
            if method == "HEAD" and length is not None:
                response.raw_headers.append((b"content-length", str(length).encode()))
        elif length is not None and length <= _BUFFER_LIMIT:
            content = await upstream.read()
            upstream.release()
            response = Response(content=content, status_code=upstream.status)
        else:
            return _streamed(upstream, extra)
    except Exception as exc:
        upstream.release()
        return _upstream_failure(request, exc, service=matched[0], rate_headers=rate_headers)
    response.raw_headers.extend(extra)
    return response


def _streamed(upstream: aiohttp.ClientResponse, extra: list[tuple[bytes, bytes]]) -> Response:
    async def chunks() -> Any:
        try:
            async for chunk in upstream.content.iter_chunked(64 * 1024):
                yield chunk
        except (aiohttp.ClientError, TimeoutError) as exc:
            # Headers are gone already: all that is left is to cut the response short.
            log.warning("upstream failed mid-body", error=repr(exc))

    response = StreamingResponse(chunks(), status_code=upstream.status,
                                 background=BackgroundTask(upstream.release))
    response.raw_headers.extend(extra)
    return response


def _upstream_failure(request: Request, exc: Exception, *, service: str,
                      rate_headers: dict[str, str]) -> Response:
    if isinstance(exc, TimeoutError | asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        status, slug, detail = 504, "upstream-timeout", f"the service behind {service} did not answer in time"
    elif isinstance(exc, aiohttp.ClientConnectionError | ConnectionError):
        status, slug, detail = 503, "upstream-unavailable", f"the service behind {service} is unavailable"
    elif isinstance(exc, aiohttp.ClientError):
        status, slug, detail = 502, "bad-gateway", f"the service behind {service} answered badly"
    else:
        raise exc
    # (unreachable for other exception types: they propagate as 500s)
    log.warning("upstream call failed", service=service, status=status, error=repr(exc))
    headers = {**rate_headers, **({"Retry-After": "1"} if status == 503 else {})}
    return problem_response(request, status=status, detail=detail, slug=slug,
                            title="Bad Gateway" if status == 502 else None, headers=headers)


# ---------------------------------------------------------------- WebSocket

async def proxy_websocket(ws: WebSocket) -> None:
    """`/v1/*` WebSockets: same authentication (header or `?access_token=`), frames relayed both ways."""
    gw = _gateway(ws)
    path = ws.url.path
    routes: RouteTable = ws.app.state.routes
    matched = routes.match(path)
    if matched is None:
        await ws.send_denial_response(problem_response(None, status=404, detail=f"no service serves {path}"))
        return
    query = parse_qsl(ws.scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    access_token = next((v for k, v in query if k == "access_token"), None)
    try:
        token = _credential(ws.headers, method="GET", path=path, query_token=access_token)
        identity, decision = await _admit(gw, token=token, method="GET", path=path)
    except Problem as exc:
        await ws.send_denial_response(_problem(None, exc))
        return
    request_id = ws.headers.get(REQUEST_ID_HEADER) or new_id("req")
    raw = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in ws.scope["headers"]]
    drop = frozenset({"sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions",
                      "sec-websocket-protocol", "origin", "cookie"})
    headers = _upstream_headers(gw, raw=[(k, v) for k, v in raw if k.lower() not in drop], path=path,
                                identity=identity, request_id=request_id, traceparent=_trace(ws.headers),
                                client_host=ws.client.host if ws.client else None, scheme=ws.url.scheme,
                                host=ws.headers.get("host"))
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
