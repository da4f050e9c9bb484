"""Who may call and how much: plans, roles, scopes and the platform's own identity, defined once here and
used by auth-token (which issues keys) and the gateway (which enforces them); and the facts auth-token
publishes on `auth.events`, keyed by the org or key id.

The gateway keeps API-key identities from these events (so it need not call auth-token per request)
and drops a key the moment `ApiKeyRevoked` arrives.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import Field

from hearth_contracts.envelope import EventData
from hearth_contracts.registry import register
from hearth_contracts.topics import AUTH_EVENTS

Plan = Literal["standard", "professional", "enterprise", "test"]
KeyRole = Literal["admin", "manager", "technician", "leasing_agent", "accountant", "partner"]

PLANS: tuple[str, ...] = get_args(Plan)
ROLES: tuple[str, ...] = get_args(KeyRole)
READ_ONLY_ROLES: frozenset[str] = frozenset({"partner"})

# Requests per hour per plan (None = unlimited). Both auth-token (lookups, temporary tokens) and the gateway
# (keys cached from `ApiKeyCreated`) read this table, overridden the same way by `HEARTH_PLAN_LIMITS`.
PLAN_LIMITS: Mapping[str, int | None] = {"standard": 1000, "professional": 5000, "enterprise": None, "test": 5}

# Scopes the platform grants itself; a key created through the API can never carry them.
SCOPE_PLATFORM_ADMIN = "platform:admin"
SCOPE_INTERNAL_GATEWAY = "internal:gateway"
SCOPE_TEMPORARY = "token:temporary"
RESERVED_SCOPE_PREFIXES: tuple[str, ...] = ("platform:", "internal:", "token:")

# The platform's own identity: the operator key's org and key id, and the gateway as a caller of auth-token.
PLATFORM_ORG_ID = "org_platform"
PLATFORM_KEY_ID = "key_platform_admin"
GATEWAY_SUBJECT = "gateway"


def parse_plan_limits(value: Any) -> dict[str, int | None]:
    """Plan → requests per hour (None = unlimited), from JSON text or a mapping, merged over `PLAN_LIMITS`."""
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ValueError(f"plan limits are not valid JSON: {exc}") from exc
    if not isinstance(value, Mapping):
        raise ValueError('plan limits must be a JSON object such as {"standard": 1000, "enterprise": null}')
    limits = dict(PLAN_LIMITS)
    for plan, limit in value.items():
        if plan not in PLANS:
            raise ValueError(f"unknown plan '{plan}' (known: {', '.join(PLANS)})")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise ValueError(f"limit of plan '{plan}' must be a non-negative integer or null")
        limits[plan] = limit
    return limits


def plan_limit(plan: str, limits: Mapping[str, int | None] = PLAN_LIMITS) -> int | None:
    """A plan's hourly limit; an unknown plan gets the lowest finite one (fail safe, never unlimited)."""
    if plan in limits:
        return limits[plan]
    finite = [v for v in limits.values() if v is not None]
    return min(finite) if finite else 0


class _AuthEvent(EventData):
    topic = AUTH_EVENTS.name


@register
class OrgCreated(_AuthEvent):
    """An org (a property-management company) was created. Keyed by org id."""

    event_type = "hearth.org.created.v1"
    org_id: str
    name: str
    plan: Plan = Field(description="Rate-limit plan of the org's keys")
    created_at: datetime


@register
class ApiKeyCreated(_AuthEvent):
    """An API key (permanent token) was issued. Keyed by key id. Carries the secret's hash, never the secret."""

    event_type = "hearth.api_key.created.v1"
    key_id: str
    org_id: str
    name: str
    role: KeyRole
    scopes: list[str] = Field(default_factory=list)
    plan: Plan
    prefix: str = Field(description="The first characters of the secret, for display")
    secret_sha256: str = Field(description="Hex SHA-256 of the whole secret; what the gateway looks keys up by")
    created_at: datetime
    member_id: str | None = Field(default=None, description="Org member (mem_...) the key belongs to, if any")


@register
class ApiKeyRevoked(_AuthEvent):
    """An API key was revoked; nothing may be accepted with it from now on. Keyed by key id."""

    event_type = "hearth.api_key.revoked.v1"
    key_id: str
    org_id: str
    secret_sha256: str
    revoked_at: datetime


# --- members: the org's people (a key may belong to one) ----------------------------------------


class _MemberSnapshot(_AuthEvent):
    member_id: str = Field(description="Member id, mem_...")
    org_id: str
    name: str
    email: str | None = None
    phone: str | None = None
    role: KeyRole = Field(description="What the member does in the org, e.g. technician")
    created_at: datetime
    updated_at: datetime


@register
class MemberCreated(_MemberSnapshot):
    """A person was added to an org. Keyed by member id."""

    event_type = "hearth.member.created.v1"


@register
class MemberUpdated(_MemberSnapshot):
    """A member's details or role changed. Keyed by member id."""

    event_type = "hearth.member.updated.v1"


@register
class MemberDeleted(_AuthEvent):
    """A member was removed from the org. Keyed by member id."""

    event_type = "hearth.member.deleted.v1"
    member_id: str
    org_id: str
