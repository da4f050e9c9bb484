"""The delivery client (the kit's HTTP/1.1 client as webhooks sets it up) against a scripted server on
loopback: framing, keep-alive, odd answers, the SSRF hook."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from hearth_kit.upstream import UpstreamError
from hearth_webhooks.http1 import KEEP_BODY_BYTES, Client, Response


class Server:
    """Answers each request (read up to the end of its body) with what `answer(request_number)` returns."""

    def __init__(self, answer: Callable[[int], bytes | None], *, close_after: bool = False) -> None:
        self.answer = answer
        self.close_after = close_after
        self.connections = 0
        self.requests: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                self.requests.append(head + await reader.readexactly(length))
                reply = self.answer(len(self.requests))
                if reply is None:  # hang up without answering
                    break
                writer.write(reply)
                await writer.drain()
                if self.close_after or b"\r\nConnection: close\r\n" in reply:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def serving(server: Server) -> AsyncIterator[str]:
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        listener.close()


async def loopback(host: str, port: int) -> list[str]:
    return [host]


def ok(body: bytes = b"ok", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


async def test_requests_reuse_one_connection_and_carry_headers_and_body() -> None:
    server = Server(lambda n: ok(b"hello %d" % n))
    async with serving(server) as base:
        client = Client(resolve=loopback)
        for i in range(3):
            resp = await client.post(f"{base}/hook/é?x=1", [("webhook-id", f"msg_{i}")], b'{"n": %d}' % i)
            assert (resp.status, resp.body_head) == (200, b"hello %d" % (i + 1))
        await client.close()
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST /hook/%C3%A9?x=1 HTTP/1.1\r\n")
    assert b"\r\nhost: 127.0.0.1:" in first and b"\r\nwebhook-id: msg_0\r\n" in first
    assert first.endswith(b'\r\n\r\n{"n": 0}')


async def test_chunked_interim_and_eof_delimited_answers() -> None:
    answers = {
        1: b"HTTP/1.1 100 Continue\r\n\r\n"
           b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        2: b"HTTP/1.1 503 Busy\r\nRetry-After: 7\r\nConnection: close\r\n\r\nlater",
    }
    server = Server(lambda n: answers[n])
    async with serving(server) as base:
        client = Client(resolve=loopback)
        assert await client.post(base + "/", [], b"{}") == Response(201, None, b"abc")
        closing = await client.post(base + "/", [], b"{}")  # no length: the answer ends with the connection
        assert (closing.status, closing.retry_after, closing.body_head) == (503, "7", b"later")
        await client.close()


async def test_redirects_are_answers_and_big_bodies_are_cut() -> None:
    big = b"x" * (3 * 1024 * 1024)
    server = Server(lambda n: b"HTTP/1.1 302 Found\r\nLocation: http://10.0.0.1/\r\nContent-Length: 0\r\n\r\n"
                    if n == 1 else ok(big))
    async with serving(server) as base:
        client = Client(resolve=loopback)
        assert (await client.post(base + "/", [], b"{}")).status == 302  # not followed
        resp = await client.post(base + "/", [], b"{}")
        assert resp.status == 200 and resp.body_head == b"x" * KEEP_BODY_BYTES
        await client.close()


async def test_a_dropped_idle_connection_is_replaced_once_and_a_hang_up_is_an_error() -> None:
    # the server hangs up after each answer although it promised keep-alive: the next request finds the
    # pooled connection dead and goes again on a fresh one (the server saw it once)
    server = Server(lambda n: ok(), close_after=True)
    async with serving(server) as base:
        client = Client(resolve=loopback)
        await client.post(base + "/", [], b"{}")
        await asyncio.sleep(0.05)
        assert (await client.post(base + "/", [], b"{}")).status == 200
        assert server.connections == 2 and len(server.requests) == 2
        await client.close()
    silent = Server(lambda n: None)
    async with serving(silent) as base:
        with pytest.raises(UpstreamError, match="without answering"):
            await Client(resolve=loopback).post(base + "/", [], b"{}")


async def test_garbage_is_an_error_and_a_timeout_drops_the_connection() -> None:
    server = Server(lambda n: b"SMTP ready\r\n\r\n")
    async with serving(server) as base:
        with pytest.raises(UpstreamError, match="invalid HTTP"):
            await Client(resolve=loopback).post(base + "/", [], b"{}")

    hung_up = asyncio.Event()

    async def never_answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # returns when the client closes its end
        hung_up.set()

    listener = await asyncio.start_server(never_answers, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    client = Client(resolve=loopback)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await client.post(f"http://127.0.0.1:{port}/", [], b"{}")
    await asyncio.wait_for(hung_up.wait(), 5)  # the cut request's connection was closed, not pooled
    listener.close()


async def test_only_resolved_addresses_are_dialled() -> None:
    async def refuse(host: str, port: int) -> list[str]:
        raise OSError(f"{host} is an address that is not allowed")

    server = Server(lambda n: ok())
    async with serving(server) as base:
        with pytest.raises(OSError, match="not allowed"):
            await Client(resolve=refuse).post(base + "/", [], b"{}")
    assert server.connections == 0
