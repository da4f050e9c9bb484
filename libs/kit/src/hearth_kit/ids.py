"""Prefixed, opaque, time-ordered ids (`bld_01j...`): readable in logs, index-friendly in Postgres."""

from __future__ import annotations

import os
import re

from ulid import ULID

_ID = re.compile(r"^[a-z]{2,6}_[0-9a-z]{26}$")


def new_id(prefix: str) -> str:
    """A new id such as `bld_01jd3k...` (ULID, lower-case Crockford base32)."""
    return f"{prefix}_{str(ULID()).lower()}"


def new_request_id() -> str:
    """A request id (`req_` + 26 random lower-case hex chars, the same shape as `new_id`).

    Minted on every call at the edge, where a ULID's clock read and base32 encoding showed in profiles;
    request ids are for correlation only and need no time order.
    """
    return "req_" + os.urandom(13).hex()


def looks_like(prefix: str, value: str) -> bool:
    """True when `value` has the shape of an id with this prefix."""
    return value.startswith(prefix + "_") and bool(_ID.match(value))
