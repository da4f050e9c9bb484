"""WebSockets under a routed prefix: the same admission as HTTP (header or `?access_token=`), then frames
relayed both ways (aiohttp on the upstream side)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from urllib.parse import parse_qsl, urlencode

import aiohttp
from hearth_kit.http import REQUEST_ID_HEADER
from hearth_kit.ids import new_request_id
from hearth_kit.problems import Problem, problem_response
from multidict import CIMultiDict
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from yarl import URL

from hearth_gateway.forwarding import (
    CREDENTIAL_PASSTHROUGH,
    PERMANENT_TOKEN_HEADER,
    REQUEST_DROP,
    REQUEST_DROP_CREDENTIALS,
    Admission,
    credential,
    gateway_headers,
)
from hearth_gateway.identity import InternalTokens
from hearth_gateway.routing import RouteTable

# Handshake headers of the caller's own WebSocket (aiohttp makes its own for the upstream one).
_WS_DROP = frozenset({b"sec-websocket-key", b"sec-websocket-version", b"sec-websocket-extensions",
                      b"sec-websocket-protocol", b"origin", b"cookie"})


class WebSocketRelay:
    """The ASGI app for WebSocket scopes on routed paths."""

    def __init__(self, *, routes: RouteTable, admission: Admission, tokens: InternalTokens) -> None:
        self.routes = routes
        self.admission = admission
        self.tokens = tokens
        self.session: aiohttp.ClientSession | None = None  # set while the gateway runs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ws = WebSocket(scope, receive, send)
        path = ws.url.path
        route = self.routes.match(path)
        if route is None or route.public:
            await ws.send_denial_response(problem_response(None, status=404, detail=f"no service serves {path}"))
            return
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        access_token = next((v for k, v in query if k == "access_token"), None)
        try:
            token = credential(ws.headers.get("authorization"), ws.headers.get(PERMANENT_TOKEN_HEADER),
                               method="GET", path=path, query_token=access_token)
            identity, decision = await self.admission.admit(token=token, method="GET", path=path)
        except Problem as exc:
            await ws.send_denial_response(problem_response(None, status=exc.status, detail=exc.detail, slug=exc.slug,
                                                           title=exc.title, headers=exc.headers))
            return
        request_id = ws.headers.get(REQUEST_ID_HEADER) or new_request_id()
        passthrough = any(path == p or path.startswith(p + "/") for p in CREDENTIAL_PASSTHROUGH)
        drop = (REQUEST_DROP if passthrough else REQUEST_DROP_CREDENTIALS) | _WS_DROP
        forwarded = gateway_headers(scope["headers"], drop,
                                    internal_token=self.tokens.for_identity(identity, time.time()),
                                    request_id=request_id, traceparent=_header(ws, "traceparent"), scope=scope,
                                    host=_header(ws, "host"))
        headers = CIMultiDict((k.decode("latin-1"), v.decode("latin-1")) for k, v in forwarded)
        protocols = [p.strip() for p in ws.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
        rest = urlencode([(k, v) for k, v in query if k != "access_token"])
        raw_path = scope.get("raw_path") or path.encode()
        base = "ws" + route.base_url[len("http"):]
        url = URL(base + raw_path.decode("latin-1") + (f"?{rest}" if rest else ""), encoded=True)
        assert self.session is not None, "gateway not started"
        try:
            upstream = await self.session.ws_connect(
                url, headers=headers, protocols=protocols, autoping=True, heartbeat=30,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5))
        except Exception as exc:
            status = 504 if isinstance(exc, TimeoutError) else 503
            if isinstance(exc, aiohttp.WSServerHandshakeError) and exc.status < 500:
                status = exc.status
            await ws.send_denial_response(problem_response(None, status=status,
                                                           detail=f"upstream WebSocket refused: {exc}"))
            return
        await ws.accept(subprotocol=upstream.protocol, headers=decision.headers() if decision else [])
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
