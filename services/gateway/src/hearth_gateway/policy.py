"""Who may make which call, and what a credential looks like (no I/O)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from hearth_contracts.auth import READ_ONLY_ROLES, SCOPE_PLATFORM_ADMIN

if TYPE_CHECKING:
    from hearth_gateway.identity import Identity

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOKEN_EXCHANGE_PATH = "/v1/auth/token"


def under(path: str, prefix: str) -> bool:
    """True when `path` is `prefix` or below it (segment-wise)."""
    prefix = prefix.rstrip("/")
    return path == prefix or path.startswith(prefix + "/")


@dataclass(frozen=True)
class Denial:
    """Why a caller may not make this call (answered as 403)."""

    detail: str
    slug: str = "forbidden"


@dataclass(frozen=True)
class RouteRule:
    """Calls under `prefix` need `scope` (for the listed methods; empty means every method)."""

    prefix: str
    scope: str
    methods: frozenset[str] = frozenset()


# The gateway's coarse policy; services apply finer, per-resource rules themselves.
POLICY: tuple[RouteRule, ...] = (
    RouteRule("/v1/admin", SCOPE_PLATFORM_ADMIN),
)


def authorize(*, method: str, path: str, identity: Identity,
              rules: tuple[RouteRule, ...] = POLICY) -> Denial | None:
    """None when the call is allowed, else the reason it is not."""
    method = method.upper()
    for rule in rules:
        if under(path, rule.prefix) and (not rule.methods or method in rule.methods) \
                and rule.scope not in identity.scopes:
            return Denial(f"{path} requires scope '{rule.scope}'", slug="insufficient-scope")
    if identity.role in READ_ONLY_ROLES and method not in READ_METHODS:
        # Exchanging one's own key for a temporary token writes nothing: a read-only key may do it.
        if method == "POST" and path == TOKEN_EXCHANGE_PATH:
            return None
        return Denial(f"role '{identity.role}' is read-only: {method} is not allowed", slug="read-only-role")
    return None


TokenKind = Literal["jwt", "api_key", "malformed"]
_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")
_KEY_CHARS = re.compile(r"^[\x21-\x7e]+$")  # visible ASCII, no spaces
MAX_TOKEN_LENGTH = 4096


def classify_token(token: str) -> TokenKind:
    """A JWT is three base64url parts (header starting `eyJ`); anything else printable is an API key."""
    if not token or len(token) > MAX_TOKEN_LENGTH or not _KEY_CHARS.match(token):
        return "malformed"
    parts = token.split(".")
    if len(parts) == 3:
        if parts[0].startswith("eyJ") and all(_B64URL.match(p) for p in parts):
            return "jwt"
        return "malformed"
    if len(token) < 8 or "." in token:
        return "malformed"
    return "api_key"


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; '' when the header is not Bearer."""
    if authorization is None:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return ""
    return value.strip()
