"""The HTTP side of a delivery: signs, posts through the lean client (`http1`), reports what happened.

Addresses are checked when an endpoint is saved and again whenever a connection is opened (`SafeResolver`
filters what DNS answers, so a name re-pointed at an internal address after saving, DNS rebinding, is
refused). Redirects are never followed; the whole attempt has one timeout.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from hearth_webhooks import domain
from hearth_webhooks.domain import Network
from hearth_webhooks.http1 import Client

USER_AGENT = "Hearth-Webhooks/1"
SEQUENCE_HEADER = "hearth-webhook-sequence"

Lookup = Callable[[str, int], Awaitable[Sequence[str]]]


class BlockedAddress(OSError):
    """The destination resolves (only) to addresses the platform will not connect to."""


async def dns_lookup(host: str, port: int) -> list[str]:
    """Every address DNS gives for `host`, in its order, once each."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class SafeResolver:
    """Resolves with `lookup` and keeps only allowed addresses; refuses the name when none is left.
    An address literal is judged as it is (no lookup)."""

    def __init__(self, allowlist: Sequence[Network], lookup: Lookup = dns_lookup) -> None:
        self._allowlist = tuple(allowlist)
        self._lookup = lookup

    async def resolve(self, host: str, port: int) -> list[str]:
        answers = [host] if domain.is_ip_literal(host) else await self._lookup(host, port)
        allowed = [a for a in answers if domain.address_allowed(a, self._allowlist)]
        if not allowed:
            what = "is" if domain.is_ip_literal(host) else "resolves to"
            raise BlockedAddress(f"{host} {what} an address that is not allowed")
        return allowed


async def destination_problem(url: str, *, allowlist: Sequence[Network]) -> str | None:
    """Why the platform would not connect to this URL's host now (None when it would): save-time check."""
    target = domain.target_of(url)
    if domain.is_ip_literal(target.host):
        allowed = domain.address_allowed(target.host, allowlist)
        return None if allowed else "url points to an address that is not allowed"
    try:
        addresses = await asyncio.wait_for(dns_lookup(target.host, target.port), timeout=5)
    except (OSError, TimeoutError, UnicodeError):
        return f"url host {target.host[:100]} does not resolve"
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
        self._timeout = timeout_seconds
        self._client = Client(resolve=SafeResolver(allowlist).resolve, max_idle=max_connections)

    async def close(self) -> None:
        await self._client.close()

    async def post(self, *, url: str, msg_id: str, sequence: int, body: bytes,
                   secrets_: Sequence[str]) -> AttemptResult:
        """One attempt: sign now, post, and report what happened (never raises for the partner's faults)."""
        at = datetime.now(UTC)
        timestamp = int(time.time())
        headers = (
            ("content-type", "application/json"),
            ("user-agent", USER_AGENT),
            ("webhook-id", msg_id),
            ("webhook-timestamp", str(timestamp)),
            ("webhook-signature", domain.signature_header(secrets_=secrets_, msg_id=msg_id, timestamp=timestamp,
                                                          body=body)),
            (SEQUENCE_HEADER, str(sequence)),
        )
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout):
                resp = await self._client.post(url, headers, body)
        except TimeoutError:
            return AttemptResult(at, None, _ms(started), None, "timed out", None)
        except (OSError, ValueError) as exc:
            return AttemptResult(at, None, _ms(started), None, _describe(exc), None)
        return AttemptResult(at, resp.status, _ms(started), domain.excerpt(resp.body_head), None,
                             domain.parse_retry_after(resp.retry_after))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BlockedAddress):
        return str(exc)
    return (f"{type(exc).__name__}: {exc}")[:500]
