"""The HTTP side of a delivery: an aiohttp client that connects only where the operator allows.

Addresses are checked when an endpoint is saved and again whenever a connection is opened (a custom
resolver filters what DNS answers, so a name re-pointed at an internal address after saving — DNS
rebinding — is refused). Redirects are never followed; the whole attempt has one timeout.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from hearth_webhooks import domain
from hearth_webhooks.domain import Network

USER_AGENT = "Hearth-Webhooks/1"
SEQUENCE_HEADER = "hearth-webhook-sequence"


class BlockedAddress(OSError):
    """The destination resolves (only) to addresses the platform will not connect to."""


class SafeResolver(AbstractResolver):
    """Resolves with `inner` and keeps only allowed addresses; refuses the name when none is left."""

    def __init__(self, allowlist: Sequence[Network], inner: AbstractResolver | None = None) -> None:
        self._allowlist = tuple(allowlist)
        self._inner = inner or ThreadedResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        allowed = [a for a in answers if domain.address_allowed(a["host"], self._allowlist)]
        if not allowed:
            raise BlockedAddress(f"{host} resolves to an address that is not allowed")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


async def destination_problem(url: str, *, allowlist: Sequence[Network]) -> str | None:
    """Why the platform would not connect to this URL's host now (None when it would): save-time check."""
    target = domain.target_of(url)
    if domain.is_ip_literal(target.host):
        allowed = domain.address_allowed(target.host, allowlist)
        return None if allowed else "url points to an address that is not allowed"
    try:
        infos = await asyncio.wait_for(asyncio.get_running_loop().getaddrinfo(
            target.host, target.port, type=socket.SOCK_STREAM), timeout=5)
    except (OSError, TimeoutError, UnicodeError):
        return f"url host {target.host[:100]} does not resolve"
    addresses = {str(info[4][0]) for info in infos}
    if not addresses or not all(domain.address_allowed(a, allowlist) for a in addresses):
        return f"url host {target.host[:100]} resolves to an address that is not allowed"
    return None


@dataclass(frozen=True)
class AttemptResult:
    attempted_at: datetime
    status_code: int | None
    latency_ms: float
    excerpt: str | None
    error: str | None
    retry_after: float | None


class Sender:
    """Posts signed deliveries; one connection pool for all endpoints (per-endpoint limits are upstream)."""

    def __init__(self, *, allowlist: Sequence[Network], timeout_seconds: float, max_connections: int) -> None:
        self._allowlist = tuple(allowlist)
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=self._max_connections, limit_per_host=0, use_dns_cache=False,
                                         resolver=SafeResolver(self._allowlist))
        self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout,
                                              cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post(self, *, url: str, msg_id: str, sequence: int, body: bytes,
                   secrets_: Sequence[str]) -> AttemptResult:
        """One attempt: sign now, post, and report what happened (never raises for the partner's faults)."""
        assert self._session is not None, "sender not started"
        at = datetime.now(UTC)
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": domain.signature_header(secrets_=secrets_, msg_id=msg_id, timestamp=timestamp,
                                                         body=body),
            SEQUENCE_HEADER: str(sequence),
        }
        started = time.perf_counter()
        refused = _refused_literal(url, self._allowlist)
        if refused is not None:
            return AttemptResult(at, None, 0.0, None, refused, None)
        try:
            async with self._session.post(url, data=body, headers=headers, allow_redirects=False) as resp:
                text = domain.excerpt(await resp.content.read(1024))
                retry_after = domain.parse_retry_after(resp.headers.get("retry-after"))
                return AttemptResult(at, resp.status, _ms(started), text, None, retry_after)
        except TimeoutError:
            return AttemptResult(at, None, _ms(started), None, "timed out", None)
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return AttemptResult(at, None, _ms(started), None, _describe(exc), None)


@lru_cache(maxsize=4096)
def _refused_literal(url: str, allowlist: tuple[Network, ...]) -> str | None:
    """aiohttp skips the resolver for address literals, so they are checked here (once per URL: this runs
    for every attempt)."""
    host = domain.target_of(url).host
    if domain.is_ip_literal(host) and not domain.address_allowed(host, allowlist):
        return f"{host} is an address that is not allowed"
    return None


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def _describe(exc: BaseException) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, BlockedAddress):
            return str(cause)
        cause = cause.__cause__ or cause.__context__
    return (f"{type(exc).__name__}: {exc}")[:500]
