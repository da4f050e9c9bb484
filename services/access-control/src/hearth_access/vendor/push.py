"""Signed pushes of lock events from the vendor (the simulator) to access-control.

Seed 001 only offers polling; the simulator can also push each lock event as it happens. A push is
signed with HMAC-SHA256 over `<unix time>.<body>` keyed with the account's permanent token, which both
sides already hold (no second secret to hand out), sent as `X-Lock-Vendor-Signature: t=<time>,v1=<hex>`.
A signature older than the tolerance is refused, so a captured push cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Lock-Vendor-Signature"
TOLERANCE_SECONDS = 300


def sign(secret: str, body: bytes, *, at: int | None = None) -> str:
    """The signature header's value for `body`, made now (or at `at`)."""
    stamp = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


def verify(secret: str, body: bytes, header: str | None, *, now: float | None = None,
           tolerance: int = TOLERANCE_SECONDS) -> bool:
    """True when `header` signs `body` with `secret` within the tolerance (constant-time comparison)."""
    if not header:
        return False
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        stamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - stamp) > tolerance:
        return False
    expected = sign(secret, body, at=stamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))
