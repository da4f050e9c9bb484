"""What the auth-token API answers: one pydantic model per document, for the OpenAPI schema."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class Org(BaseModel):
    id: str
    name: str
    plan: str
    created_at: datetime


class ApiKey(BaseModel):
    """An API key as listed: never its secret or its hash."""

    id: str
    name: str
    role: str
    scopes: list[str]
    prefix: str = Field(description="The first characters of the secret, to recognise it")
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    member_id: str | None = Field(default=None, description="The org member (mem_...) the key belongs to")


class NewApiKey(ApiKey):
    """A key just created: `secret` is shown in this answer only (null in an idempotent replay)."""

    secret: str | None


class NewOrg(BaseModel):
    org: Org
    api_key: NewApiKey


class Plan(BaseModel):
    name: str
    rate_limit_per_hour: int | None = Field(description="Requests per hour; null = unlimited")
    unlimited: bool


class TemporaryToken(BaseModel):
    temporary_token: str
    token_type: str = "Bearer"
    expires_at: int = Field(description="Unix time")
    expires_in: int = Field(description="Seconds")


class RotatedKey(BaseModel):
    kid: str
    published_kids: list[str]


class JsonWebKeySet(BaseModel):
    """RFC 7517 key set: the public keys that verify temporary tokens."""

    keys: list[dict[str, Any]]


class Member(BaseModel):
    """One of the org's people (a key may belong to one)."""

    id: str = Field(description="mem_...")
    name: str
    email: str | None
    phone: str | None
    role: str = Field(description="admin, manager, technician, leasing_agent, accountant or partner")
    created_at: datetime
    updated_at: datetime
