"""The kit's HTTP server limits, on a real socket: oversized heads, stalled heads and bodies, too many
connections. Each of these was accepted (or kept open indefinitely) by uvicorn's defaults."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from hearth_kit.server import EdgeLimits, server_config
from hearth_kit.testing.infra import free_port

LIMITS = EdgeLimits(max_head_bytes=8192, max_headers=20, head_timeout_seconds=0.5, body_timeout_seconds=0.5,
                    keep_alive_seconds=1, max_connections=8)


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            return
        body += msg.get("body", b"")
        if not msg.get("more_body"):
            break
    out = json.dumps({"len": len(body)}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(out)).encode())]})
    await send({"type": "http.response.body", "body": out})


@pytest.fixture
async def port() -> AsyncIterator[int]:
    p = free_port()
    server = uvicorn.Server(server_config(_app, host="127.0.0.1", port=p, limits=LIMITS, lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event for it)
        await asyncio.sleep(0.01)
    try:
        yield p
    finally:
        server.should_exit = True
        await task


async def _exchange(port: int, raw: bytes, *, wait: float = 5.0) -> tuple[bytes, float]:
    """Send `raw`, read until the server closes; (everything read, seconds until close)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    start = time.monotonic()
    try:
        writer.write(raw)
        await writer.drain()
    except ConnectionError:
        pass
    data = b""
    try:
        async with asyncio.timeout(wait):
            while chunk := await reader.read(65536):
                data += chunk
    except (ConnectionError, TimeoutError):
        pass
    writer.close()
    return data, time.monotonic() - start


def _status_and_problem(data: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"content-type: application/problem+json" in head.lower()
    return status, json.loads(body)


async def test_a_plain_request_and_a_kept_alive_second_one_pass(port: int) -> None:
    one = b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\ncontent-type: application/json\r\n\r\n{}\n"
    data, _ = await _exchange(port, one + one.replace(b"POST", b"POST", 1) + b"GET / HTTP/1.1\r\nhost: x\r\n"
                              b"connection: close\r\n\r\n")
    assert data.count(b"HTTP/1.1 200") == 3


@pytest.mark.parametrize("head", [
    b"GET / HTTP/1.1\r\nhost: x\r\n" + b"".join(b"x-h%d: v\r\n" % i for i in range(10_000)) + b"\r\n",
    b"GET / HTTP/1.1\r\nhost: x\r\nauthorization: Bearer " + b"a" * 1_000_000 + b"\r\n\r\n",
])
async def test_too_many_or_too_large_headers_are_431_problems(port: int, head: bytes) -> None:
    data, _ = await _exchange(port, head)
    status, problem = _status_and_problem(data)
    assert status == 431 and problem["status"] == 431 and problem["type"].endswith("/headers-too-large")


async def test_an_overlong_request_line_is_414(port: int) -> None:
    data, _ = await _exchange(port, b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nhost: x\r\n\r\n")
    assert _status_and_problem(data)[0] == 414


async def test_garbage_is_a_400_problem(port: int) -> None:
    data, _ = await _exchange(port, b"NOT HTTP AT ALL\r\n\r\n")
    assert _status_and_problem(data)[0] == 400


async def test_a_stalled_head_is_408_and_closed_within_the_deadline(port: int) -> None:
    data, took = await _exchange(port, b"GET / HTTP/1.1\r\nhost: x\r\nx-partial: ")
    assert _status_and_problem(data)[0] == 408
    assert took < 2


async def test_a_silent_connection_is_closed(port: int) -> None:
    data, took = await _exchange(port, b"")
    assert data == b"" and took < 2


async def test_a_trickled_body_is_408_and_closed(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    start = time.monotonic()
    writer.write(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n")
    data = b""
    hung_up = False
    for _ in range(40):  # one byte every 0.1 s: the whole body would take 100 s
        try:
            writer.write(b"x")
            await writer.drain()
            data += await asyncio.wait_for(reader.read(65536), timeout=0.1)
        except TimeoutError:
            continue
        except ConnectionError:
            hung_up = True
            break
        if reader.at_eof():
            hung_up = True
            break
    writer.close()
    assert hung_up
    assert time.monotonic() - start < 3
    assert _status_and_problem(data)[0] == 408


async def test_connections_past_the_cap_get_503(port: int) -> None:
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(LIMITS.max_connections)]
    try:
        data, _ = await _exchange(port, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        assert _status_and_problem(data)[0] == 503
    finally:
        for _, w in conns:
            w.close()
