"""A lean HTTP/1.1 client for deliveries: keep-alive connections, one request at a time on each.

Why not aiohttp (used before): its client spent about 0.5 ms of CPU per request here, two thirds of a
whole delivery, on what deliveries never use (redirect handling, cookies, proxies, tracing, streamed
bodies, per-request timer objects). A delivery needs only this: POST one body, read the status, the
`Retry-After` header and the first KiB of the answer, and reuse the connection. Responses are parsed by
httptools (llhttp, the parser uvicorn serves with); this module is the protocol glue and the pool.

The gateway's `hearth_gateway.upstream` is the same idea, written earlier for the proxy (streamed
bodies, per-origin caps, idempotent-only retry, plain HTTP to internal upstreams). This one adds what
the proxy lacks (a resolver hook for the SSRF check, TLS, a capped body). They should become one client
in the kit; until then, a fix to the framing of one belongs in the other too.

Connections are opened only to addresses the `resolve` callable returns (the SSRF check lives there), so
a name re-pointed at an internal address after it was saved is refused when connecting. Redirects are
answers like any other (never followed). Timeouts are the caller's (`asyncio.timeout` around `post`);
a request cut by one closes its connection.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, urlsplit

import httptools

KEEP_BODY_BYTES = 1024  # what the delivery log keeps of an answer
MAX_BODY_BYTES = 1024 * 1024  # read no further: the connection is dropped instead of drained
IDLE_SECONDS = 15.0  # an idle connection older than this is not reused (servers drop them around then)

Resolve = Callable[[str, int], Awaitable[Sequence[str]]]


class ResponseError(OSError):
    """The peer answered with something that is not a usable HTTP/1.1 response, or hung up mid-way."""


@dataclass(frozen=True)
class Response:
    status: int
    retry_after: str | None
    body_head: bytes  # at most KEEP_BODY_BYTES


@dataclass(frozen=True)
class _Target:
    https: bool
    host: str  # as dialled and as TLS expects it (no brackets)
    port: int
    host_header: str
    path: str  # path and query, percent-encoded

    @property
    def key(self) -> tuple[bool, str, int]:
        return (self.https, self.host, self.port)


@lru_cache(maxsize=4096)
def _target(url: str) -> _Target:
    parts = urlsplit(url)
    https = parts.scheme == "https"
    host = parts.hostname or ""
    port = parts.port or (443 if https else 80)
    ascii_host = host.encode("idna").decode("ascii") if not host.isascii() else host
    shown = f"[{ascii_host}]" if ":" in ascii_host else ascii_host
    if port != (443 if https else 80):
        shown += f":{port}"
    raw = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    # keeps what is already escaped or reserved; escapes the rest (non-ASCII as UTF-8)
    return _Target(https, ascii_host, port, shown, quote(raw, safe="!#$%&'()*+,/:;=?@[]~"))


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection; `exchange` sends a request and waits for its whole response."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[Response] | None = None
        self._status = 0
        self._retry_after: str | None = None
        self._body = bytearray()
        self._seen = 0
        self._headers_done = False
        self._keep_alive = False
        self.answered = False  # any byte of an answer arrived on this connection
        self.closed = False
        self.idle_since = 0.0

    # --- asyncio.Protocol -----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.answered = True
        if self._waiter is None:  # nothing was asked: a peer talking out of turn is not reused
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(ResponseError("the receiver switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(ResponseError(f"invalid HTTP response: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            if self._headers_done:  # an answer delimited by the connection's end is complete now
                self._complete()
            else:
                self._fail(ResponseError("the receiver closed the connection without answering"))

    # --- httptools callbacks --------------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"retry-after":
            self._retry_after = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()
        self._keep_alive = self._parser.should_keep_alive()  # (only valid while the message is parsed)
        self._headers_done = True

    def on_body(self, body: bytes) -> None:
        if len(self._body) < KEEP_BODY_BYTES:
            self._body += body[:KEEP_BODY_BYTES - len(self._body)]
        self._seen += len(body)
        if self._seen > MAX_BODY_BYTES:  # the status is known; the rest is not worth reading
            self._complete()
            self.close()

    def on_message_complete(self) -> None:
        if 100 <= self._status < 200:  # an interim answer (100 Continue, 103): the real one follows
            self._reset()
            return
        self._complete()

    # --- use ------------------------------------------------------------------------------------------

    async def exchange(self, request: bytes) -> Response:
        assert self._transport is not None and self._waiter is None
        self._reset()
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(request)
        try:
            return await self._waiter
        except BaseException:
            self.close()  # cut mid-way (timeout, cancel): what is left on the wire belongs to nobody
            raise
        finally:
            self._waiter = None

    @property
    def reusable(self) -> bool:
        return not self.closed and self._keep_alive

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()

    def _reset(self) -> None:
        self._status, self._retry_after, self._seen, self._headers_done, self._keep_alive = 0, None, 0, False, False
        self._body = bytearray()

    def _complete(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(Response(self._status, self._retry_after, bytes(self._body)))

    def _fail(self, exc: Exception) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)
        self.close()


class Client:
    """POSTs over pooled keep-alive connections, dialling only addresses `resolve` hands out."""

    def __init__(self, *, resolve: Resolve, max_idle: int = 512) -> None:
        self._resolve = resolve
        self._max_idle = max_idle
        self._idle: defaultdict[tuple[bool, str, int], list[_Connection]] = defaultdict(list)
        self._idle_count = 0
        self._tls: ssl.SSLContext | None = None  # built once: loading the CA store is expensive

    async def post(self, url: str, headers: Sequence[tuple[str, str]], body: bytes) -> Response:
        target = _target(url)
        lines = [f"POST {target.path} HTTP/1.1", f"Host: {target.host_header}",
                 *(f"{name}: {value}" for name, value in headers), f"Content-Length: {len(body)}", "", ""]
        request = "\r\n".join(lines).encode("latin-1") + body
        conn = self._take_idle(target)
        if conn is not None:
            try:
                return await self._exchange(conn, target, request)
            except ResponseError:
                if conn.answered:
                    raise
                # The receiver dropped the idle connection as we reused it (it never saw the request):
                # once more on a fresh connection, as browsers and HTTP libraries do.
        return await self._exchange(await self._connect(target), target, request)

    async def close(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()
        self._idle_count = 0

    async def _exchange(self, conn: _Connection, target: _Target, request: bytes) -> Response:
        response = await conn.exchange(request)
        if conn.reusable and self._idle_count < self._max_idle:
            conn.idle_since = time.monotonic()
            self._idle[target.key].append(conn)
            self._idle_count += 1
        else:
            conn.close()
        return response

    def _take_idle(self, target: _Target) -> _Connection | None:
        conns = self._idle.get(target.key)
        fresh_after = time.monotonic() - IDLE_SECONDS
        while conns:
            conn = conns.pop()  # the most recently used: the least likely to have been dropped
            self._idle_count -= 1
            if not conn.closed and conn.idle_since > fresh_after:
                conn.answered = False
                return conn
            conn.close()
        return None

    async def _connect(self, target: _Target) -> _Connection:
        loop = asyncio.get_running_loop()
        tls = self._tls_context() if target.https else None
        failure: OSError | None = None
        for address in await self._resolve(target.host, target.port):
            try:
                _, conn = await loop.create_connection(
                    _Connection, address, target.port, ssl=tls, server_hostname=target.host if tls else None)
                return conn
            except OSError as exc:
                failure = exc
        raise failure or OSError(f"{target.host} has no address to connect to")

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls
