"""The HTTP server every service (and the gateway) runs: uvicorn with limits it lacks by default.

uvicorn with httptools parses headers of any size and number, never times out a request whose head or body
stalls, and keeps a connection that sends nothing open forever. `GuardedHttpToolsProtocol` adds, per
connection: a cap on the head (total bytes of request line + headers, and header count) answered
`431` (`414` for a request line alone past the cap); a deadline for the head from the connection's first
byte (or, on a kept-alive connection, the next request's first byte) and one for the body once the head is
in, both answered `408` and closed; and a cap on open connections per process (the one past it gets `503`
and is closed). Every refusal is `application/problem+json`, like the rest of the platform's errors.

Limits come from `HEARTH_HTTP_*` (see `EdgeLimits`); they are the same for every service.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar

import httptools
from pydantic_settings import BaseSettings, SettingsConfigDict
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from hearth_kit.logging import get_logger
from hearth_kit.problems import PROBLEM_JSON, TYPE_BASE

log = get_logger(__name__)


class EdgeLimits(BaseSettings):
    """Connection limits of the HTTP server (`HEARTH_HTTP_<FIELD>`)."""

    model_config = SettingsConfigDict(env_prefix="HEARTH_HTTP_", extra="ignore")

    max_head_bytes: int = 32 * 1024  # request line + every header line
    max_request_line_bytes: int = 8 * 1024
    max_headers: int = 100
    head_timeout_seconds: float = 10.0  # first byte of a request → end of its head
    body_timeout_seconds: float = 30.0  # end of the head → end of the body
    keep_alive_seconds: float = 5.0  # idle between two requests on one connection
    max_connections: int = 4096  # open connections per process
    backlog: int = 2048


def problem_bytes(status: int, title: str, detail: str, slug: str, *,
                  extra_headers: tuple[tuple[bytes, bytes], ...] = ()) -> bytes:
    """A whole HTTP/1.1 problem+json answer that closes the connection (written straight to the socket)."""
    body = json.dumps({"type": TYPE_BASE + slug, "title": title, "status": status, "detail": detail}).encode()
    head = [f"HTTP/1.1 {status} {title}\r\n".encode(), b"content-type: ", PROBLEM_JSON.encode(), b"\r\n",
            b"content-length: ", str(len(body)).encode(), b"\r\n", b"connection: close\r\n"]
    for k, v in extra_headers:
        head += [k, b": ", v, b"\r\n"]
    return b"".join(head) + b"\r\n" + body


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing; `data_received` answers with `answer`."""

    def __init__(self, answer: bytes) -> None:
        super().__init__("request refused")
        self.answer = answer


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with head-size, header-count, timeout and connection limits."""

    limits: ClassVar[EdgeLimits] = EdgeLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._header_count = 0
        self._url_bytes = 0
        self._in_head = False
        self._timer: asyncio.TimerHandle | None = None
        self._refused = False

    # ---------------------------------------------------------------- connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            log.warning("connection refused: too many open connections", limit=self.limits.max_connections)
            self._answer_and_close(problem_bytes(
                503, "Service Unavailable", "too many open connections; retry shortly", "too-many-connections",
                extra_headers=((b"retry-after", b"1"),)))
            return
        # A connection that never sends a whole head is closed after the head timeout.
        self._arm(self.limits.head_timeout_seconds, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except _Refused as refused:  # (httptools may hand it over as is ...)
            self._answer_and_close(refused.answer)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self._disarm()
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        except httptools.HttpParserError as exc:  # (... or wrapped in a parser error)
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, _Refused):
                self._answer_and_close(cause.answer)
            else:
                self._answer_and_close(problem_bytes(400, "Bad Request", "the request is not valid HTTP/1.1",
                                                     "malformed-request"))

    # ---------------------------------------------------------------- parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = self._header_count = self._url_bytes = 0
        self._in_head = True
        if self._timer is None:  # the next request on a kept-alive connection: its head has a deadline too
            self._arm(self.limits.head_timeout_seconds, self._head_timed_out)

    def on_url(self, url: bytes) -> None:
        self._url_bytes += len(url)
        self._head_bytes += len(url)
        if self._url_bytes > self.limits.max_request_line_bytes:
            raise _Refused(problem_bytes(414, "URI Too Long",
                                         f"the request target exceeds {self.limits.max_request_line_bytes} bytes",
                                         "uri-too-long"))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._head_bytes += len(name) + len(value) + 4
        if self._header_count > self.limits.max_headers or self._head_bytes > self.limits.max_head_bytes:
            raise _Refused(problem_bytes(
                431, "Request Header Fields Too Large",
                f"request headers exceed {self.limits.max_headers} fields or {self.limits.max_head_bytes} bytes",
                "headers-too-large"))
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._disarm()
        super().on_headers_complete()
        if self._expects_body():
            self._arm(self.limits.body_timeout_seconds, self._body_timed_out)

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    # ---------------------------------------------------------------- timeouts

    def _expects_body(self) -> bool:
        for name, value in self.headers:
            if name == b"transfer-encoding" or (name == b"content-length" and value.strip() not in (b"", b"0")):
                return True
        return False

    def _arm(self, seconds: float, callback: Any) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _head_timed_out(self) -> None:
        self._timer = None
        if self._in_head:
            self._answer_and_close(problem_bytes(408, "Request Timeout", "the request head was not received in time",
                                                 "request-timeout"))
        elif self.cycle is None or self.cycle.response_complete:
            self._answer_and_close(b"")  # opened and silent

    def _body_timed_out(self) -> None:
        self._timer = None
        cycle = self.cycle
        if cycle is None or cycle.response_complete or not cycle.more_body:
            return
        answer = b"" if cycle.response_started else problem_bytes(
            408, "Request Timeout", "the request body was not received in time", "request-timeout")
        # The app waiting on `receive()` gets `http.disconnect`; what it sends after is dropped.
        cycle.disconnected = True
        cycle.message_event.set()
        self._answer_and_close(answer)

    def _answer_and_close(self, answer: bytes) -> None:
        self._refused = True
        self._disarm()
        if self.transport.is_closing():
            return
        if answer:
            self.transport.write(answer)
        self.transport.close()


def guarded_protocol(limits: EdgeLimits) -> type[GuardedHttpToolsProtocol]:
    """The protocol class with `limits` (uvicorn takes a class, not an instance)."""
    return type("ConfiguredHttpProtocol", (GuardedHttpToolsProtocol,), {"limits": limits})


def server_config(app: Any, *, host: str, port: int, limits: EdgeLimits | None = None, **extra: Any) -> Any:
    """A `uvicorn.Config` for `app` with the guarded protocol and `limits` (also used by tests)."""
    import uvicorn

    limits = limits or EdgeLimits()
    return uvicorn.Config(
        app, host=host, port=port, http=guarded_protocol(limits), log_config=None, access_log=False,
        proxy_headers=False, server_header=False, timeout_keep_alive=int(max(1, limits.keep_alive_seconds)),
        backlog=limits.backlog, **extra)
