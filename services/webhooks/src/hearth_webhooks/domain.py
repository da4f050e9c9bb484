"""Pure rules of webhooks: event-type patterns, signatures, retry timing, address safety. No I/O."""

from __future__ import annotations

import base64
import hmac
import ipaddress
import random
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cache, lru_cache
from urllib.parse import urlsplit

from hearth_contracts.registry import all_contracts
from hearth_contracts.topics import ALL_TOPICS, TELEMETRY_ALERTS, Topic

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
MAX_URL_LENGTH = 2048
MAX_PATTERNS = 100
# `hearth.lease.activated.v1`, `hearth.lease.*`, or `*` for everything.
_PATTERN = re.compile(r"\*|[a-z0-9_]{1,50}(\.[a-z0-9_]{1,50}){0,8}(\.\*)?")


# --- what is delivered ----------------------------------------------------------------------------------

def consumed_topics(topics: Iterable[Topic] = ALL_TOPICS) -> list[Topic]:
    """Every fact topic (`*.events`) plus `telemetry.alerts`; never raw readings or lock commands."""
    return [t for t in topics if t.name.endswith(".events") or t.name == TELEMETRY_ALERTS.name]


@cache
def subscribable_types() -> dict[str, str]:
    """Event type → one-line description, for every registered contract on a consumed topic."""
    names = {t.name for t in consumed_topics()}
    return {event_type: (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else ""
            for event_type, model in all_contracts().items() if model.topic in names}


def pattern_matches(pattern: str, event_type: str) -> bool:
    """`*` matches all; `a.b.*` matches every type under `a.b.`; anything else matches itself."""
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


def subscribed(patterns: Sequence[str], event_type: str) -> bool:
    """True when any pattern matches the type."""
    return any(pattern_matches(p, event_type) for p in patterns)


def pattern_problems(patterns: Sequence[str], known: Iterable[str] | None = None) -> list[str]:
    """Why these patterns are not acceptable (empty when they are): malformed or matching no known type."""
    known_types = list(subscribable_types() if known is None else known)
    problems: list[str] = []
    if not patterns:
        problems.append("at least one event type (or '*') is needed")
    if len(patterns) > MAX_PATTERNS:
        problems.append(f"at most {MAX_PATTERNS} event types")
    for p in patterns:
        if not _PATTERN.fullmatch(p):
            problems.append(f"'{p[:80]}' is not an event type or a pattern such as 'hearth.lease.*'")
        elif not any(pattern_matches(p, t) for t in known_types):
            problems.append(f"'{p}' matches no event type (see GET /v1/webhooks/event-types)")
    return problems


# --- Standard Webhooks signatures -----------------------------------------------------------------------

def new_secret() -> str:
    """A fresh signing secret, `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


@lru_cache(maxsize=4096)
def _key(secret: str) -> bytes:
    raw = secret.removeprefix(SECRET_PREFIX)
    return base64.b64decode(raw + "=" * (-len(raw) % 4))


def sign(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")) per the Standard Webhooks spec."""
    # hmac.digest: the one-shot C path (hmac.new builds two Python-level hash objects per call)
    digest = hmac.digest(_key(secret), f"{msg_id}.{timestamp}.".encode() + body, "sha256")
    return "v1," + base64.b64encode(digest).decode()


def signature_header(*, secrets_: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """Space-separated signatures, one per secret in use (two during a rotation's overlap)."""
    return " ".join(sign(secret=s, msg_id=msg_id, timestamp=timestamp, body=body) for s in secrets_)


# --- retries --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    """What one attempt came to, as far as the retry rules care."""

    status_code: int | None  # None: no HTTP answer (refused, timeout, blocked address)
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        return self.status_code == 410


def retry_delay(*, failures: int, schedule: Sequence[float], jitter: float, outcome: Outcome,
                max_retry_after: float, rng: random.Random | None = None) -> float | None:
    """Seconds until the next attempt after the `failures`-th failure in a row; None when retries are spent.

    The schedule's pause is spread by ±`jitter` so a recovering partner is not hit by a thundering herd;
    a 429/503 with Retry-After waits at least that long (capped, so a partner cannot park a delivery).
    """
    if outcome.gone or failures > len(schedule):
        return None
    pause = schedule[failures - 1]
    pause *= 1 + (rng or random).uniform(-jitter, jitter)
    if outcome.retry_after is not None and outcome.status_code in (429, 503):
        pause = max(pause, min(outcome.retry_after, max_retry_after))
    return max(pause, 0.0)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(min(int(value), 10**9))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def should_disable_for_failing(*, failing_since: datetime | None, now: datetime, after_seconds: float) -> bool:
    """An endpoint that has failed without a success for `after_seconds` is disabled."""
    return failing_since is not None and (now - failing_since).total_seconds() >= after_seconds


# --- where we may connect (SSRF) ------------------------------------------------------------------------

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """The operator's allowlist as networks."""
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def address_allowed(address: str | Address, allowlist: Sequence[Network] = ()) -> bool:
    """Only globally routable unicast addresses, unless the operator allowlisted the address's network.

    Private, loopback, link-local, multicast, reserved, unspecified and other special-purpose ranges are
    refused (IPv4-mapped IPv6 is judged as the IPv4 it carries).
    """
    try:
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in net for net in allowlist):
        return True
    return not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
                or ip.is_unspecified or not ip.is_global)


@dataclass(frozen=True)
class Target:
    """A checked endpoint URL."""

    scheme: str
    host: str
    port: int


def url_problem(url: str, *, allow_http: bool) -> str | None:
    """Why this URL cannot be an endpoint (None when its shape is acceptable; addresses are checked apart)."""
    if len(url) > MAX_URL_LENGTH:
        return f"url is longer than {MAX_URL_LENGTH} characters"
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        return "url contains whitespace or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "url is not a valid URL"
    if parts.scheme not in ("https", "http"):
        return "url must be https"
    if parts.scheme == "http" and not allow_http:
        return "url must be https"
    if not parts.hostname:
        return "url has no host"
    if parts.username is not None or parts.password is not None:
        return "url must not carry credentials"
    if port == 0:
        return "url has an invalid port"
    return None


def target_of(url: str) -> Target:
    """Scheme, host and port of an accepted URL."""
    parts = urlsplit(url)
    scheme = parts.scheme
    return Target(scheme=scheme, host=parts.hostname or "", port=parts.port or (443 if scheme == "https" else 80))


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def excerpt(body: bytes, limit: int = 1024) -> str:
    """At most `limit` bytes of a response, as text (undecodable bytes replaced, NULs dropped)."""
    return body[:limit].decode("utf-8", errors="replace").replace("\x00", "")
