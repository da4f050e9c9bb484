"""Auth rules with no I/O: plans, API-key secrets, input shapes, temporary-token claims."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from typing import Annotated, Any

from hearth_contracts.auth import (
    PLAN_LIMITS,
    PLANS,
    PLATFORM_KEY_ID,
    PLATFORM_ORG_ID,
    RESERVED_SCOPE_PREFIXES,
    SCOPE_INTERNAL_GATEWAY,
    SCOPE_PLATFORM_ADMIN,
    SCOPE_TEMPORARY,
    KeyRole,
    Plan,
    parse_plan_limits,
)
from hearth_kit.ids import new_id
from hearth_kit.rules import Name
from pydantic import BaseModel, ConfigDict, Field, field_validator

# Plans, scopes and the platform identity are defined once in hearth_contracts.auth (the gateway enforces
# the same table); re-exported here for this service's modules.
DEFAULT_PLAN_LIMITS: dict[str, int | None] = dict(PLAN_LIMITS)
__all__ = ["PLANS", "PLATFORM_KEY_ID", "PLATFORM_ORG_ID", "SCOPE_INTERNAL_GATEWAY", "SCOPE_PLATFORM_ADMIN",
           "SCOPE_TEMPORARY", "parse_plan_limits"]

SECRET_PREFIX = "hk_live_"
DISPLAY_PREFIX_LENGTH = 12
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_SCOPE = re.compile(r"^[a-z][a-z0-9_.\-]*(:[a-z0-9_.\-*]+)*$")
MAX_SCOPES = 50

_Strict = ConfigDict(extra="forbid", str_strip_whitespace=True)


# --- plans -------------------------------------------------------------------------------------


def plans_view(limits: Mapping[str, int | None]) -> list[dict[str, Any]]:
    """The API shape of the configured plans."""
    return [{"name": plan, "rate_limit_per_hour": limits.get(plan), "unlimited": limits.get(plan) is None}
            for plan in PLANS]


# --- secrets -----------------------------------------------------------------------------------


def new_secret() -> str:
    """A new API-key secret: a recognisable prefix plus 256 random bits (43 url-safe characters)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """Hex SHA-256 of a secret.

    A plain fast hash is right here: secrets are 256-bit random values, not passwords, so there is
    nothing to brute-force, and the gateway must look keys up by this value on every request.
    """
    return hashlib.sha256(secret.encode()).hexdigest()


def display_prefix(secret: str) -> str:
    """The first characters of a secret, shown in lists so a person can tell keys apart."""
    return secret[:DISPLAY_PREFIX_LENGTH]


def is_sha256_hex(value: str) -> bool:
    """True for 64 lower-case hex characters."""
    return bool(_SHA256_HEX.match(value))


def secret_matches(secret: str, digest: str) -> bool:
    """Constant-time check of a secret against a stored hash."""
    return hmac.compare_digest(hash_secret(secret), digest)


# --- inputs ------------------------------------------------------------------------------------


class OrgIn(BaseModel):
    """The body of POST /v1/admin/orgs."""

    model_config = _Strict

    name: Name = Field(min_length=1, max_length=200)
    plan: Plan = Field(description="Rate-limit plan: standard, professional, enterprise or test")


class ApiKeyIn(BaseModel):
    """The body of POST /v1/api-keys."""

    model_config = _Strict

    name: Name = Field(min_length=1, max_length=200)
    role: KeyRole
    scopes: list[str] = Field(default_factory=list, max_length=MAX_SCOPES)
    member_id: str | None = Field(default=None, pattern=r"^mem_[0-9a-z]{26}$", description="Member the key belongs to")

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, value: list[str]) -> list[str]:
        out: list[str] = []
        for raw in value:
            scope = raw.strip()
            if not scope or len(scope) > 100 or not _SCOPE.match(scope):
                raise ValueError(f"'{raw}' is not a valid scope (lower-case words joined by ':')")
            if scope.startswith(RESERVED_SCOPE_PREFIXES):
                raise ValueError(f"scope '{scope}' is reserved for the platform")
            if scope not in out:
                out.append(scope)
        return sorted(out)


# --- temporary tokens --------------------------------------------------------------------------


def temporary_token_claims(
    *, key_id: str, org_id: str, role: str, scopes: list[str], plan: str, rate_limit_per_hour: int | None,
    issuer: str, audience: str, now: int, ttl_seconds: int, member_id: str | None = None,
) -> dict[str, Any]:
    """The claims of a temporary token: who (key, org, role, scopes), its plan, and 24 h of validity."""
    return {
        "iss": issuer, "aud": audience, "sub": key_id, "jti": new_id("tok"),
        "iat": now, "nbf": now, "exp": now + ttl_seconds,
        "org": org_id, "role": role, "scopes": sorted(scopes),
        "plan": plan, "rate_limit_per_hour": rate_limit_per_hour,
        **({"member_id": member_id} if member_id else {}),
    }


# --- members -----------------------------------------------------------------------------------

_EMAIL = r"^[^@\s\x00]{1,64}@[^@\s\x00]{1,255}\.[^@\s\x00]{1,63}$"
_PHONE = r"^\+?[0-9 ()./\-]{3,40}$"
MemberId = Annotated[str, Field(pattern=r"^mem_[0-9a-z]{26}$", description="Member id, mem_...")]


class MemberIn(BaseModel):
    """The body of POST /v1/members."""

    model_config = _Strict

    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00]*$")
    email: str | None = Field(default=None, max_length=320, pattern=_EMAIL)
    phone: str | None = Field(default=None, max_length=40, pattern=_PHONE)
    role: KeyRole


class MemberPatch(BaseModel):
    """The body of PATCH /v1/members/{id}: only the fields sent change."""

    model_config = _Strict

    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"^[^\x00]*$")
    email: str | None = Field(default=None, max_length=320, pattern=_EMAIL)
    phone: str | None = Field(default=None, max_length=40, pattern=_PHONE)
    role: KeyRole | None = None

    @field_validator("name", "role")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("cannot be null")
        return value
