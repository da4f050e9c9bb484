"""Hourly limits per key: exact fixed windows counted in Postgres (shared by every replica), and the
`RateLimit-Policy` / `RateLimit` header fields of draft-ietf-httpapi-ratelimit-headers (current draft).

The older `RateLimit-Limit` / `-Remaining` / `-Reset` trio (drafts up to -06) is sent as well: clients
written against it (and the platform's own tools) read it, and it costs three short headers. It goes when
the draft becomes an RFC.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from hearth_kit.logging import get_logger
from hearth_kit.problems import Problem
from prometheus_client import Counter

from hearth_gateway.counters import RateCounter
from hearth_gateway.identity import Identity

log = get_logger(__name__)

POLICY_NAME = "hourly"
DENIALS = Counter("hearth_gateway_rate_limit_denials_total", "Calls refused with 429 by the hourly limit", ["plan"])


@dataclass(frozen=True)
class RateDecision:
    """The outcome of counting one request against its window."""

    limit: int
    window_seconds: int
    remaining: int
    reset_seconds: int
    allowed: bool

    def headers(self) -> list[tuple[bytes, bytes]]:
        """The header fields (ASGI style), plus Retry-After on a denial."""
        out = [
            (b"ratelimit-policy", f'"{POLICY_NAME}";q={self.limit};w={self.window_seconds}'.encode()),
            (b"ratelimit", f'"{POLICY_NAME}";r={self.remaining};t={self.reset_seconds}'.encode()),
            (b"ratelimit-limit", str(self.limit).encode()),
            (b"ratelimit-remaining", str(self.remaining).encode()),
            (b"ratelimit-reset", str(self.reset_seconds).encode()),
        ]
        if not self.allowed:
            out.append((b"retry-after", str(self.reset_seconds).encode()))
        return out

    def header_dict(self) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self.headers()}


def window_start(now: float, window_seconds: int) -> int:
    """Epoch second at which the fixed window containing `now` began."""
    return int(now) - int(now) % window_seconds


def rate_decision(*, limit: int, count: int | None, now: float, window_seconds: int) -> RateDecision:
    """`count` is this request's number in the window (None: the counter was already at the limit)."""
    reset = max(window_start(now, window_seconds) + window_seconds - int(now), 1)
    if count is None or count > limit:
        return RateDecision(limit=limit, window_seconds=window_seconds, remaining=0, reset_seconds=reset,
                            allowed=False)
    return RateDecision(limit=limit, window_seconds=window_seconds, remaining=limit - count, reset_seconds=reset,
                        allowed=True)


class RateLimiter:
    """`count(identity)` → a decision (None for unlimited callers); raises 503 when counting is impossible."""

    def __init__(self, *, window_seconds: int) -> None:
        self.window = window_seconds
        self.counter: RateCounter | None = None  # set while the gateway runs (it needs the pool)

    async def count(self, identity: Identity, *, now: float | None = None) -> RateDecision | None:
        limit = identity.rate_limit_per_hour
        if limit is None:
            return None
        now = time.time() if now is None else now
        if limit <= 0:
            decision = rate_decision(limit=0, count=None, now=now, window_seconds=self.window)
        else:
            assert self.counter is not None, "gateway not started"
            start = datetime.fromtimestamp(window_start(now, self.window), UTC)
            try:
                number = await self.counter.hit(key_id=identity.key_id, window_start=start, limit=limit)
            except (asyncpg.PostgresError, OSError, TimeoutError) as exc:
                # Fail closed: without the shared counter the limit cannot be enforced exactly.
                log.error("rate counter unavailable", error=repr(exc))
                raise Problem(503, "rate limiting is unavailable; retry shortly", slug="rate-limit-unavailable",
                              headers={"Retry-After": "1"}) from exc
            decision = rate_decision(limit=limit, count=number, now=now, window_seconds=self.window)
        if not decision.allowed:
            DENIALS.labels(identity.plan).inc()
        return decision
