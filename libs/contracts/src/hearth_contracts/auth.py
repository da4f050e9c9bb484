"""Facts the auth-token service publishes on `auth.events`, keyed by the org or key id.

The gateway keeps API-key identities from these events (so it need not call auth-token per request)
and drops a key the moment `ApiKeyRevoked` arrives.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from hearth_contracts.envelope import EventData
from hearth_contracts.registry import register
from hearth_contracts.topics import AUTH_EVENTS

Plan = Literal["standard", "professional", "enterprise", "test"]
KeyRole = Literal["admin", "manager", "technician", "leasing_agent", "accountant", "partner"]


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
