"""A lean HTTP/1.1 keep-alive client: asyncio protocols plus httptools' parser (llhttp, which uvicorn
serves with). Two users, both on a measured hot path:

- the gateway forwards every `/v1/*` call with it. aiohttp's request machinery (ClientRequest/ClientResponse
  objects, header multidicts, timers, trace hooks) was about a third of the gateway's CPU per request;
- webhooks posts every delivery with it (`hearth_webhooks.http1`). aiohttp's client spent ~0.5 ms of CPU
  per request there, two thirds of a whole delivery.
Both need much less: bytes in, bytes out, headers as the peer sent them. aiohttp stays for the rest
(WebSockets, JWKS, OpenAPI fetches).

What it does: one pool per origin with an optional connection cap, idle connections reused until shortly
before the peer's own keep-alive timeout, a request retried once on a fresh connection when a reused one
turns out to be dead before any answer byte (GET/HEAD/PUT/DELETE/OPTIONS by default: a proxied POST may
have been acted on; webhooks allows POST, its deliveries are idempotent by `webhook-id`), 1xx answers
skipped, bodies delimited by Content-Length, chunked encoding or connection close, redirects returned as
answers (never followed), and a read timeout on every wait for data (or none: the caller's
`asyncio.timeout` then bounds the call; a call cut by it closes its connection). Large bodies are
streamed with back-pressure (the socket is paused while the caller is behind). Optional: TLS, and a
`resolve` hook that decides which addresses may be dialled (webhooks' SSRF check: a name re-pointed at
an internal address after it was saved is refused when connecting).
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from urllib.parse import urlsplit

import httptools

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_HIGH_WATER = 512 * 1024  # buffered body bytes before the socket is paused
_LOW_WATER = 64 * 1024


# (host, port) -> the addresses that may be dialled, in order; raises (an OSError) to refuse
Resolve = Callable[[str, int], Awaitable[Sequence[str]]]


class UpstreamError(OSError):
    """The upstream could not be reached or broke the exchange (the proxy answers 503/502)."""


class UpstreamConnectError(UpstreamError):
    """No connection could be made (503)."""


class UpstreamTimeout(UpstreamError, TimeoutError):
    """Nothing arrived within the read (or connect) timeout (504)."""


class UpstreamProtocolError(UpstreamError):
    """The upstream's answer was not valid HTTP/1.1 (502)."""


class _Reused(UpstreamError):
    """A reused connection was dead before any answer byte: safe to retry an idempotent request."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection, one exchange at a time; also the httptools parser's callback target."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.open = False
        self.idle_since = 0.0
        self.reused = False
        self.busy = False
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_done = False
        self.done = False
        self.error: BaseException | None = None
        self.chunks: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self.got_bytes = False
        self.close_delimited = False
        self.paused = False
        self.keep = False  # the answer allows keep-alive (and, after HEAD, the parser is still trusted)
        self._waiter: asyncio.Future[None] | None = None

    # ---------------------------------------------------------------- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.open = True

    def data_received(self, data: bytes) -> None:
        if not self.busy:  # nothing was asked: an idle connection that talks is broken
            self.close()
            return
        self.got_bytes = True
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            # (an upgrade, e.g. `101 Switching Protocols`, is not something a forwarded call can use)
            self._fail(UpstreamProtocolError(f"invalid HTTP from upstream: {exc!r}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        if self.done:
            return
        if self.head_done and self.close_delimited:
            self.done = True  # the body was "everything until the connection closes"
            self._wake()
        elif self.reused and not self.got_bytes:
            self._fail(_Reused("reused connection closed before answering"))
        elif not self.got_bytes:
            self._fail(UpstreamError("the upstream closed the connection without answering"))
        else:
            self._fail(UpstreamError(f"upstream closed the connection mid-answer: {exc!r}"))

    def pause_writing(self) -> None:  # requests are small and written whole; nothing to throttle
        pass

    def resume_writing(self) -> None:
        pass

    # ---------------------------------------------------------------- httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:  # 1xx: informational, the real answer follows
            self.headers = []
            return
        self.status = status
        self.head_done = True
        # Asked now: llhttp forgets it once the message is complete.
        self.keep = self.parser.should_keep_alive()
        self.close_delimited = status not in (204, 304) and not any(
            k in (b"content-length", b"transfer-encoding") for k, _ in self.headers)
        self._wake()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > _HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self.status:  # (a 1xx message completes too; its final answer is still to come)
            self.done = True
            self._wake()

    # ---------------------------------------------------------------- the exchange

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
        self._wake()

    async def wait(self, timeout: float | None) -> None:
        """Until something changes (header end, body bytes, completion, failure) or `timeout` passes."""
        self._waiter = w = self.loop.create_future()
        handle = self.loop.call_later(timeout, self._timed_out, w) if timeout else None
        try:
            await w
        finally:
            self._waiter = None
            if handle is not None:
                handle.cancel()
        if self.error is not None:
            raise self.error

    def _timed_out(self, w: asyncio.Future[None]) -> None:
        if not w.done():
            self._fail(UpstreamTimeout("the upstream did not answer in time"))

    def take(self) -> bytes:
        """Every body byte buffered so far."""
        data = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
        self.chunks.clear()
        self.buffered = 0
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return data

    def reusable(self) -> bool:
        # Never after a 5xx: a server may close the connection right after an error answer (uvicorn does when
        # the app raised), and the next caller, perhaps another org's POST, would get that dead connection.
        return self.open and self.done and self.keep and self.error is None and self.status < 500 \
            and self.transport is not None and not self.transport.is_closing()

    def close(self) -> None:
        self.open = False
        if self.transport is not None:
            self.transport.close()


class UpstreamResponse:
    """Status and headers (as sent, names lower-cased), then the body read whole or in chunks.

    Call `release()` (or read to the end) so the connection goes back to the pool.
    """

    def __init__(self, pool: UpstreamPool, conn: _Connection, *, head: bool, timeout: float | None) -> None:
        self._pool = pool
        self._conn: _Connection | None = conn
        self._timeout = timeout
        self.status = conn.status
        self.headers = conn.headers
        self.content_length: int | None = None
        for k, v in conn.headers:
            if k == b"content-length" and v.isdigit():
                self.content_length = int(v)
        if head:  # a HEAD answer has no body whatever its headers say (the parser cannot know that)
            conn.done = True
            conn.keep = False
            conn.chunks.clear()

    async def read(self) -> bytes:
        """The whole body (the caller bounds its size by `content_length` first)."""
        parts = [chunk async for chunk in self.iter_chunks()]
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def read_head(self, keep: int, *, limit: int) -> bytes:
        """The first `keep` bytes of the body. The rest is read and dropped, up to `limit` bytes: past that
        the connection is closed instead of drained."""
        conn = self._conn
        if conn is None:
            return b""
        kept = bytearray()
        seen = 0
        try:
            while (chunk := await self._next_chunk(conn)) is not None:
                if len(kept) < keep:
                    kept += chunk[:keep - len(kept)]
                seen += len(chunk)
                if seen > limit:
                    self._discard()
                    return bytes(kept)
        except BaseException:
            self._discard()
            raise
        self.release()
        return bytes(kept)

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        conn = self._conn
        if conn is None:
            return
        try:
            while (chunk := await self._next_chunk(conn)) is not None:
                yield chunk
        except BaseException:
            self._discard()
            raise
        self.release()

    async def _next_chunk(self, conn: _Connection) -> bytes | None:
        """The body bytes buffered next (waiting for some), or None at the end of the body."""
        while not conn.chunks:
            if conn.done:
                return None
            await conn.wait(self._timeout)
        return conn.take()

    def release(self) -> None:
        """Back to the pool if the answer was read whole and the connection may be kept; else closed."""
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool.give_back(conn)

    def _discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
            self._pool.give_back(conn)


class UpstreamPool:
    """Keep-alive connections to one origin (`http://host:port`, or `https://` given `tls`), at most `limit`
    at a time (None: no cap) and at most `max_idle` kept idle."""

    def __init__(self, origin: str, *, limit: int | None, connect_timeout: float, read_timeout: float | None,
                 idle_seconds: float = 4.0, max_idle: int | None = None, resolve: Resolve | None = None,
                 tls: ssl.SSLContext | None = None, retry_methods: frozenset[str] = IDEMPOTENT) -> None:
        parts = urlsplit(origin)
        if parts.scheme not in (("http", "https") if tls else ("http",)) or not parts.hostname:
            raise ValueError(f"upstream must be http://host[:port][/path] (https with TLS), got {origin!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.host_header = (parts.netloc or self.host).encode("latin-1")
        self.base_path = parts.path.rstrip("/").encode("latin-1")  # prefixed to every target
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        # Below uvicorn's default keep-alive (5 s): we drop an idle connection before the upstream does.
        self.idle_seconds = idle_seconds
        self.max_idle = max_idle
        self.tls = tls if parts.scheme == "https" else None
        self.retry_methods = retry_methods
        self._resolve = resolve
        self._idle: collections.deque[_Connection] = collections.deque()
        self.limit = limit
        self._slots = asyncio.Semaphore(limit) if limit is not None else None
        self._closed = False

    async def request(self, method: str, target: bytes, headers: list[tuple[bytes, bytes]],
                      body: bytes = b"") -> UpstreamResponse:
        """Send one request (`target` is the raw path and query); returns once the status line and headers
        are in. Raises `UpstreamConnectError`, `UpstreamTimeout` or `UpstreamError` (and what `resolve`
        raises to refuse)."""
        head = _encode_head(method, self.base_path + target, self.host_header, headers, body)
        slots = self._slots
        if slots is not None:
            if slots.locked():  # every connection busy: wait a bounded time, then answer 503
                try:
                    async with asyncio.timeout(self.connect_timeout):
                        await slots.acquire()
                except TimeoutError:
                    raise UpstreamConnectError(f"all {self.limit} connections to {self.host}:{self.port} "
                                               "stayed busy") from None
            else:
                await slots.acquire()
        try:
            conn = await self._checkout()
            try:
                return await self._exchange(conn, method, head, body)
            except _Reused:
                if method not in self.retry_methods:
                    raise UpstreamError("the upstream closed a kept-alive connection") from None
                return await self._exchange(await self._connect(), method, head, body)
        except BaseException:
            if slots is not None:
                slots.release()
            raise

    async def _exchange(self, conn: _Connection, method: str, head: bytes, body: bytes) -> UpstreamResponse:
        conn._reset()
        conn.busy = True
        assert conn.transport is not None
        if body:
            conn.transport.writelines((head, body))
        else:
            conn.transport.write(head)
        try:
            while not conn.head_done:
                await conn.wait(self.read_timeout)
        except BaseException:
            conn.close()
            raise
        return UpstreamResponse(self, conn, head=method == "HEAD", timeout=self.read_timeout)

    async def _checkout(self) -> _Connection:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()  # the most recently used: the least likely to have been closed
            if conn.open and now - conn.idle_since < self.idle_seconds:
                conn.reused = True
                return conn
            conn.close()
        return await self._connect()

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        addresses = await self._resolve(self.host, self.port) if self._resolve is not None else [self.host]
        failure: OSError | None = None
        for address in addresses:
            try:
                async with asyncio.timeout(self.connect_timeout):
                    _, conn = await loop.create_connection(
                        lambda: _Connection(loop), address, self.port, ssl=self.tls,
                        server_hostname=self.host if self.tls else None)
                return conn
            except TimeoutError as exc:
                failure = UpstreamTimeout(f"connecting to {self.host}:{self.port} timed out")
                failure.__cause__ = exc
            except OSError as exc:
                failure = UpstreamConnectError(f"cannot connect to {self.host}:{self.port}: {exc}")
                failure.__cause__ = exc
        raise failure or UpstreamConnectError(f"{self.host} has no address to connect to")

    def give_back(self, conn: _Connection) -> None:
        """A finished exchange's connection: kept when clean and kept-alive, else closed; frees its slot."""
        if self._slots is not None:
            self._slots.release()
        conn.busy = False
        if not self._closed and conn.reusable() and (self.max_idle is None or len(self._idle) < self.max_idle):
            conn.reused = False
            conn.idle_since = time.monotonic()
            self._idle.append(conn)
        else:
            conn.close()

    async def close(self) -> None:
        self._closed = True
        while self._idle:
            self._idle.pop().close()


def _encode_head(method: str, target: bytes, host: bytes, headers: list[tuple[bytes, bytes]],
                 body: bytes) -> bytes:
    lines = [method.encode("ascii"), b" ", target, b" HTTP/1.1\r\nhost: ", host, b"\r\n"]
    for k, v in headers:
        lines += (k, b": ", v, b"\r\n")
    if body or method in ("POST", "PUT", "PATCH"):
        lines += (b"content-length: ", str(len(body)).encode("ascii"), b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


class UpstreamClient:
    """One `UpstreamPool` per origin, created on first use."""

    def __init__(self, *, limit_per_origin: int, connect_timeout: float, read_timeout: float) -> None:
        self._pools: dict[str, UpstreamPool] = {}
        self._limit = limit_per_origin
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout

    def pool(self, origin: str) -> UpstreamPool:
        pool = self._pools.get(origin)
        if pool is None:
            pool = self._pools[origin] = UpstreamPool(origin, limit=self._limit,
                                                      connect_timeout=self._connect_timeout,
                                                      read_timeout=self._read_timeout)
        return pool

    async def close(self) -> None:
        for pool in self._pools.values():
            await pool.close()
        self._pools.clear()
