"""The proxy's HTTP/1.1 client against a scripted server on a real local socket.

Each test scripts what the server answers per request (raw bytes, so malformed and awkward answers can be
sent) and reads what arrived and over how many connections.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from hearth_kit.upstream import (
    UpstreamConnectError,
    UpstreamError,
    UpstreamPool,
    UpstreamProtocolError,
    UpstreamTimeout,
)

OK = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\nhello"

# (request head bytes, reader, writer) -> None; it answers one request or closes the connection
Script = Callable[[bytes, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Server:
    """Answers each request with `script`; records request heads, bodies and connection count."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.connections = 0
        self.open_now = 0
        self.most_open = 0
        self.heads: list[bytes] = []
        self.bodies: list[bytes] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            while not writer.is_closing():
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                self.heads.append(head)
                self.bodies.append(await reader.readexactly(length) if length else b"")
                await self.script(head, reader, writer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open_now -= 1
            writer.close()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.asynccontextmanager
async def serving(script: Script) -> AsyncIterator[Server]:
    server = Server(script)
    srv = await asyncio.start_server(server._handle, "127.0.0.1", 0)
    server.port = srv.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        srv.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(srv.wait_closed(), 1)


async def answer_ok(_: bytes, __: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(OK)


def answer_after(seconds: float) -> Script:
    async def slow(_: bytes, __: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(seconds)
        writer.write(OK)

    return slow


def pool_for(server: Server, *, limit: int = 10, read_timeout: float = 2.0,
             connect_timeout: float = 1.0) -> UpstreamPool:
    return UpstreamPool(server.origin, limit=limit, connect_timeout=connect_timeout, read_timeout=read_timeout)


async def test_requests_reuse_one_kept_alive_connection_and_carry_head_and_body() -> None:
    async with serving(answer_ok) as server:
        pool = pool_for(server)
        for _ in range(3):
            resp = await pool.request("GET", b"/v1/ping?x=1", [(b"accept", b"*/*")])
            assert (resp.status, await resp.read()) == (200, b"hello")
            assert (b"content-type", b"text/plain") in resp.headers and resp.content_length == 5
        resp = await pool.request("POST", b"/v1/things", [(b"content-type", b"application/json")], b'{"a":1}')
        assert await resp.read() == b"hello"
        assert server.connections == 1
        assert server.heads[0].startswith(b"GET /v1/ping?x=1 HTTP/1.1\r\nhost: 127.0.0.1:")
        assert b"accept: */*\r\n" in server.heads[0] and b"content-length" not in server.heads[0]
        assert b"content-length: 7\r\n" in server.heads[3] and server.bodies[3] == b'{"a":1}'
        await pool.close()


async def test_an_empty_post_still_declares_its_length() -> None:
    async with serving(answer_ok) as server:
        pool = pool_for(server)
        await (await pool.request("POST", b"/v1/x", [])).read()
        assert b"content-length: 0\r\n" in server.heads[0]
        await pool.close()


async def test_chunked_and_large_bodies_arrive_whole_in_order() -> None:
    big = bytes(range(256)) * 8192  # 2 MiB: more than the pause threshold

    async def chunked(_: bytes, __: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for i in range(0, len(big), 100_000):
            part = big[i:i + 100_000]
            writer.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            await writer.drain()
        writer.write(b"0\r\n\r\n")

    async with serving(chunked) as server:
        pool = pool_for(server)
        resp = await pool.request("GET", b"/big", [])
        assert resp.content_length is None
        got = bytearray()
        async for chunk in resp.iter_chunks():
            got += chunk
            await asyncio.sleep(0)  # a slow reader: the connection is paused and resumed meanwhile
        assert bytes(got) == big
        assert await (await pool.request("GET", b"/big", [])).read() == big
        assert server.connections == 1  # the connection survived both
        await pool.close()


async def test_a_body_delimited_by_close_ends_at_close_and_is_not_reused() -> None:
    async def until_close(_: bytes, __: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\neverything until close")
        await writer.drain()
        writer.close()

    async with serving(until_close) as server:
        pool = pool_for(server)
        assert await (await pool.request("GET", b"/", [])).read() == b"everything until close"
        assert await (await pool.request("GET", b"/", [])).read() == b"everything until close"
        assert server.connections == 2
        await pool.close()


async def test_informational_answers_are_skipped() -> None:
    async def with_100(_: bytes, __: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" + b"HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n" + OK)

    async with serving(with_100) as server:
        pool = pool_for(server)
        resp = await pool.request("GET", b"/", [])
        assert (resp.status, await resp.read()) == (200, b"hello")
        assert all(k != b"link" for k, _ in resp.headers)
        await pool.close()


async def test_head_answers_have_no_body_and_the_connection_is_not_trusted_again() -> None:
    async def head(_: bytes, __: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1234\r\n\r\n")

    async with serving(head) as server:
        pool = pool_for(server)
        resp = await pool.request("HEAD", b"/", [])
        assert (resp.status, resp.content_length, await resp.read()) == (200, 1234, b"")
        await (await pool.request("HEAD", b"/", [])).read()
        assert server.connections == 2
        await pool.close()


async def test_204_and_304_have_no_body_and_keep_the_connection() -> None:
    async def empty(head: bytes, __: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n" if b"/a" in head else b"HTTP/1.1 304 Not Modified\r\n\r\n")

    async with serving(empty) as server:
        pool = pool_for(server)
        for path in (b"/a", b"/b", b"/a"):
            resp = await pool.request("GET", path, [])
            assert await resp.read() == b""
        assert server.connections == 1
        await pool.close()


async def test_silence_is_a_timeout_and_a_refused_connection_a_connect_error() -> None:
    async def silent(_: bytes, reader: asyncio.StreamReader, __: asyncio.StreamWriter) -> None:
        await reader.read()  # never answers

    async with serving(silent) as server:
        pool = pool_for(server, read_timeout=0.2)
        with pytest.raises(UpstreamTimeout):
            await pool.request("GET", b"/", [])
        await pool.close()
    refused = UpstreamPool(server.origin, limit=2, connect_timeout=1, read_timeout=1)
    with pytest.raises(UpstreamConnectError):
        await refused.request("GET", b"/", [])


async def test_a_body_that_stops_short_is_an_error_not_a_short_answer() -> None:
    async def short(_: bytes, __: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly this")
        await writer.drain()
        writer.close()

    async with serving(short) as server:
        pool = pool_for(server)
        resp = await pool.request("GET", b"/", [])
        with pytest.raises(UpstreamError):
            await resp.read()
        await pool.close()


@pytest.mark.parametrize("answer", [
    b"SMTP ready\r\n\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n\x81\x00",
])
async def test_garbage_or_an_upgrade_is_a_protocol_error(answer: bytes) -> None:
    async def reply(_: bytes, __: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(answer)

    async with serving(reply) as server:
        pool = pool_for(server, read_timeout=2)
        with pytest.raises(UpstreamProtocolError):
            await pool.request("GET", b"/", [])
        await pool.close()


def _drop_second_request() -> tuple[Script, list[int]]:
    """Answers the first request on each connection; closes the connection on the second, unanswered."""
    seen: list[int] = []

    async def script(_: bytes, __: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(1)
        if len(seen) == 2:
            writer.close()
        else:
            writer.write(OK)

    return script, seen


async def test_a_dead_reused_connection_is_retried_for_idempotent_calls_only() -> None:
    script, seen = _drop_second_request()
    async with serving(script) as server:
        pool = pool_for(server)
        await (await pool.request("GET", b"/", [])).read()
        assert await (await pool.request("GET", b"/", [])).read() == b"hello"  # retried on a new one
        assert server.connections == 2 and len(seen) == 3
        await pool.close()

    script, seen = _drop_second_request()
    async with serving(script) as server:
        pool = pool_for(server)
        await (await pool.request("POST", b"/", [], b"{}")).read()
        with pytest.raises(UpstreamError):  # a POST may have been acted on: never sent twice
            await pool.request("POST", b"/", [], b"{}")
        assert len(seen) == 2
        await pool.close()


async def test_the_pool_caps_concurrent_connections() -> None:
    async with serving(answer_after(0.05)) as server:
        pool = pool_for(server, limit=2)

        async def one() -> bytes:
            return await (await pool.request("GET", b"/", [])).read()

        assert await asyncio.gather(*(one() for _ in range(6))) == [b"hello"] * 6
        assert server.most_open == 2
        await pool.close()


async def test_a_call_waits_for_a_busy_pool_only_so_long() -> None:
    async with serving(answer_after(0.5)) as server:
        pool = pool_for(server, limit=1, connect_timeout=0.1)
        first = asyncio.ensure_future(pool.request("GET", b"/", []))
        await asyncio.sleep(0.05)
        with pytest.raises(UpstreamConnectError, match="stayed busy"):
            await pool.request("GET", b"/", [])
        assert await (await first).read() == b"hello"
        assert await (await pool.request("GET", b"/", [])).read() == b"hello"  # the slot came back
        await pool.close()


async def test_an_abandoned_answer_closes_its_connection_and_frees_its_slot() -> None:
    async def late_body(_: bytes, __: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(OK[:-5])
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(OK[-5:])

    async with serving(late_body) as server:
        pool = pool_for(server, limit=1)
        resp = await pool.request("GET", b"/", [])
        resp.release()  # before the body came: it is still owed, so the connection cannot be reused
        assert await (await pool.request("GET", b"/", [])).read() == b"hello"  # the slot was freed
        assert server.connections == 2
        await pool.close()


def test_only_plain_http_origins_are_accepted() -> None:
    with pytest.raises(ValueError, match="http://host"):
        UpstreamPool("https://example.com", limit=1, connect_timeout=1, read_timeout=1)


async def test_without_a_cap_calls_run_at_once_and_only_max_idle_connections_are_kept() -> None:
    async with serving(answer_after(0.05)) as server:
        pool = UpstreamPool(server.origin, limit=None, connect_timeout=1, read_timeout=2, max_idle=1)

        async def one() -> bytes:
            return await (await pool.request("GET", b"/", [])).read()

        assert await asyncio.gather(*(one() for _ in range(3))) == [b"hello"] * 3
        assert server.most_open == 3
        await asyncio.sleep(0.1)
        assert server.open_now == 1  # two closed as they came back, one kept for the next call
        assert await one() == b"hello" and server.connections == 3
        await pool.close()
