"""The deliveries' HTTP client: the kit's lean HTTP/1.1 client (`hearth_kit.upstream`, shared with the
gateway) set up for posting to partners.

- TLS for `https://` endpoints (one default context: loading the CA store is expensive).
- Only addresses the `resolve` callable returns are dialled (the SSRF check lives there), so a name
  re-pointed at an internal address after it was saved is refused when connecting.
- A POST is sent once more on a fresh connection when a kept-alive one turns out dead before any answer
  byte (the receiver dropped it as we reused it and never saw the request); deliveries are idempotent by
  `webhook-id` anyway.
- Of an answer only the status, `Retry-After` and the first KiB are kept; past 1 MiB the connection is
  dropped instead of drained. Redirects are answers like any other (never followed).
- Timeouts are the caller's (`asyncio.timeout` around `post`); a request cut by one closes its connection.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, urlsplit

from hearth_kit.upstream import Resolve, UpstreamPool

KEEP_BODY_BYTES = 1024  # what the delivery log keeps of an answer
MAX_BODY_BYTES = 1024 * 1024  # read no further: the connection is dropped instead of drained
IDLE_SECONDS = 15.0  # an idle connection older than this is not reused (servers drop them around then)
CONNECT_SECONDS = 30.0  # (the caller's timeout is shorter and cuts first)


@dataclass(frozen=True)
class Response:
    status: int
    retry_after: str | None
    body_head: bytes  # at most KEEP_BODY_BYTES


@lru_cache(maxsize=4096)
def _split(url: str) -> tuple[str, bytes]:
    """(origin with an ASCII host, request target percent-encoded) of an endpoint URL."""
    parts = urlsplit(url)
    https = parts.scheme == "https"
    host = parts.hostname or ""
    ascii_host = host.encode("idna").decode("ascii") if not host.isascii() else host
    shown = f"[{ascii_host}]" if ":" in ascii_host else ascii_host
    if parts.port and parts.port != (443 if https else 80):
        shown += f":{parts.port}"
    raw = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    # keeps what is already escaped or reserved; escapes the rest (non-ASCII as UTF-8)
    return f"{parts.scheme}://{shown}", quote(raw, safe="!#$%&'()*+,/:;=?@[]~").encode("ascii")


class Client:
    """POSTs over pooled keep-alive connections (one pool per origin), dialling only what `resolve` allows."""

    def __init__(self, *, resolve: Resolve, max_idle: int = 100) -> None:
        self._resolve = resolve
        self._max_idle = max_idle  # per origin; an endpoint has at most 100 deliveries in flight
        self._pools: dict[str, UpstreamPool] = {}
        self._tls: ssl.SSLContext | None = None

    async def post(self, url: str, headers: Sequence[tuple[str, str]], body: bytes) -> Response:
        origin, target = _split(url)
        pool = self._pools.get(origin) or self._pool(origin)
        resp = await pool.request("POST", target, [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
                                  body)
        retry_after = next((v.decode("latin-1") for k, v in resp.headers if k == b"retry-after"), None)
        return Response(resp.status, retry_after, await resp.read_head(KEEP_BODY_BYTES, limit=MAX_BODY_BYTES))

    async def close(self) -> None:
        for pool in self._pools.values():
            await pool.close()
        self._pools.clear()

    def _pool(self, origin: str) -> UpstreamPool:
        tls = None
        if origin.startswith("https:"):
            tls = self._tls = self._tls or ssl.create_default_context()
        pool = self._pools[origin] = UpstreamPool(
            origin, limit=None, connect_timeout=CONNECT_SECONDS, read_timeout=None, idle_seconds=IDLE_SECONDS,
            max_idle=self._max_idle, resolve=self._resolve, tls=tls, retry_methods=frozenset({"POST"}))
        return pool
