"""Gateway rules with no I/O: route matching, access policy, token shapes, rate-limit math, OpenAPI merge."""

from __future__ import annotations

import copy
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

PLATFORM_ORG = "org_platform"
PLATFORM_ADMIN_SCOPE = "platform:admin"
TEMPORARY_TOKEN_SCOPE = "token:temporary"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Headers that describe one connection, never forwarded by a proxy (RFC 9110 §7.6.1).
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te",
    "trailer", "trailers", "transfer-encoding", "upgrade",
})

HOP_BY_HOP_BYTES = frozenset(h.encode() for h in HOP_BY_HOP)


@dataclass(frozen=True)
class Identity:
    """Who a credential belongs to, and how much it may call."""

    key_id: str
    org_id: str
    role: str
    scopes: frozenset[str] = field(default_factory=frozenset)
    plan: str = "standard"
    rate_limit_per_hour: int | None = 1000  # None: unlimited
    temporary: bool = False
    member_id: str | None = None  # the org member the key belongs to (forwarded as claim `member_id`)

    @property
    def forwarded_scopes(self) -> frozenset[str]:
        """Scopes in the internal JWT: a temporary-token caller is marked as such."""
        return self.scopes | {TEMPORARY_TOKEN_SCOPE} if self.temporary else self.scopes


def plan_limit(plan: str, explicit: int | None, limits: Mapping[str, int | None], *,
               has_explicit: bool) -> int | None:
    """The hourly limit: the identity's own number if given, else the plan's; unknown plans get the lowest."""
    if has_explicit:
        return explicit
    if plan in limits:
        return limits[plan]
    finite = [v for v in limits.values() if v is not None]
    return min(finite) if finite else None


# ---------------------------------------------------------------- routing

class RouteTable:
    """Path prefix → upstream base URL; the longest matching prefix wins, on whole path segments."""

    def __init__(self, routes: Mapping[str, str]) -> None:
        cleaned = {("/" + p.strip("/")).rstrip("/") or "/": u.rstrip("/") for p, u in routes.items()}
        self._ordered = sorted(cleaned.items(), key=lambda kv: len(kv[0]), reverse=True)

    def match(self, path: str) -> tuple[str, str] | None:
        """(prefix, base URL) for `path`, or None when no service owns it."""
        for prefix, base in self._ordered:
            if path == prefix or path.startswith(prefix + "/") or prefix == "/":
                return prefix, base
        return None


def under(path: str, prefix: str) -> bool:
    """True when `path` is `prefix` or below it (segment-wise)."""
    prefix = prefix.rstrip("/")
    return path == prefix or path.startswith(prefix + "/")


# ---------------------------------------------------------------- policy

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
    RouteRule("/v1/admin", PLATFORM_ADMIN_SCOPE),
)


def authorize(*, method: str, path: str, identity: Identity,
              rules: tuple[RouteRule, ...] = POLICY) -> Denial | None:
    """None when the call is allowed, else the reason it is not."""
    method = method.upper()
    for rule in rules:
        if under(path, rule.prefix) and (not rule.methods or method in rule.methods) \
                and rule.scope not in identity.scopes:
            return Denial(f"{path} requires scope '{rule.scope}'", slug="insufficient-scope")
    if identity.role == "partner" and method not in READ_METHODS:
        return Denial(f"role 'partner' is read-only: {method} is not allowed", slug="read-only-role")
    return None


# ---------------------------------------------------------------- tokens

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


# ---------------------------------------------------------------- rate limits

@dataclass(frozen=True)
class RateDecision:
    """The outcome of counting one request against its window."""

    limit: int
    remaining: int
    reset_seconds: int
    allowed: bool

    def headers(self) -> dict[str, str]:
        """IETF draft RateLimit-* header fields, plus Retry-After on a denial."""
        out = {"RateLimit-Limit": str(self.limit), "RateLimit-Remaining": str(self.remaining),
               "RateLimit-Reset": str(self.reset_seconds)}
        if not self.allowed:
            out["Retry-After"] = str(self.reset_seconds)
        return out


def window_start(now: float, window_seconds: int) -> int:
    """Epoch second at which the fixed window containing `now` began."""
    return int(now) - int(now) % window_seconds


def rate_decision(*, limit: int, count: int | None, now: float, window_seconds: int) -> RateDecision:
    """`count` is this request's number in the window (None: the counter was already at the limit)."""
    reset = window_start(now, window_seconds) + window_seconds - int(now)
    if count is None or count > limit:
        return RateDecision(limit=limit, remaining=0, reset_seconds=max(reset, 1), allowed=False)
    return RateDecision(limit=limit, remaining=limit - count, reset_seconds=max(reset, 1), allowed=True)


# ---------------------------------------------------------------- tracing

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def valid_traceparent(value: str | None) -> bool:
    """W3C trace-context: version ff, all-zero trace id or parent id are invalid."""
    m = _TRACEPARENT.match(value or "")
    if m is None:
        return False
    return m.group(1) != "ff" and set(m.group(2)) != {"0"} and set(m.group(3)) != {"0"}


def new_traceparent() -> str:
    """A fresh sampled W3C traceparent (one read of the OS's random source for both ids)."""
    ids = secrets.token_hex(24)
    return f"00-{ids[:32]}-{ids[32:]}-01"



def forward_headers(headers: list[tuple[bytes, bytes]], *, drop: frozenset[bytes]) -> list[tuple[bytes, bytes]]:
    """Headers (ASGI style: lower-case byte names) minus those in `drop` (which holds the hop-by-hop names
    already, see `HOP_BY_HOP_BYTES`) and those the `Connection` header names."""
    for k, v in headers:
        if k == b"connection":
            drop = drop | {t.strip().lower() for t in v.split(b",")}
    return [kv for kv in headers if kv[0] not in drop]


# ---------------------------------------------------------------- OpenAPI merge

_REF_PREFIX = "#/components/schemas/"


def _rewrite_refs(node: Any, renames: Mapping[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            is_ref = k == "$ref" and isinstance(v, str) and v.startswith(_REF_PREFIX)
            name = v[len(_REF_PREFIX):] if is_ref else None
            if name is not None and name in renames:
                out[k] = _REF_PREFIX + renames[name]
            else:
                out[k] = _rewrite_refs(v, renames)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v, renames) for v in node]
    return node


def _service_prefix(name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", name) if part)


def merge_openapi(docs: Mapping[str, dict[str, Any]], *, title: str = "Hearth API",
                  version: str = "1") -> dict[str, Any]:
    """One OpenAPI 3.1 document: paths united, clashing schema names prefixed by service."""
    merged: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version,
                 "description": "Every Hearth service behind one gateway. Authenticate with "
                                "`Authorization: Bearer <API key or temporary token>`."},
        "paths": {},
        "components": {"schemas": {}, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "An API key or a temporary token from POST /v1/auth/token"},
        }},
        "security": [{"bearer": []}],
        "tags": [],
    }
    schemas: dict[str, Any] = merged["components"]["schemas"]
    seen_tags: set[str] = set()
    for service in sorted(docs):
        doc = copy.deepcopy(docs[service])
        own: dict[str, Any] = (doc.get("components") or {}).get("schemas") or {}
        renames = {name: f"{_service_prefix(service)}{name}" for name, body in own.items()
                   if name in schemas and schemas[name] != _rewrite_refs(body, {})}
        own = _rewrite_refs(own, renames)
        for name, body in own.items():
            schemas[renames.get(name, name)] = body
        for path, item in (_rewrite_refs(doc.get("paths") or {}, renames)).items():
            merged["paths"].setdefault(path, {}).update(item)
        for tag in doc.get("tags") or []:
            if tag.get("name") not in seen_tags:
                seen_tags.add(tag.get("name"))
                merged["tags"].append(tag)
    return merged
