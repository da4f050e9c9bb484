"""Auth-token use cases: each is one transaction that writes its rows and its outbox events together."""

from __future__ import annotations

import hmac
import time
from datetime import datetime
from typing import Any

import asyncpg
from hearth_contracts.auth import ApiKeyCreated, ApiKeyRevoked, OrgCreated
from hearth_kit import outbox
from hearth_kit.auth import Principal
from hearth_kit.db import Database
from hearth_kit.ids import new_id
from hearth_kit.pagination import PageParams
from hearth_kit.problems import Problem, not_found

from hearth_auth_token import repository
from hearth_auth_token.config import Settings
from hearth_auth_token.domain import (
    PLATFORM_KEY_ID,
    PLATFORM_ORG_ID,
    SCOPE_PLATFORM_ADMIN,
    SCOPE_TEMPORARY,
    ApiKeyIn,
    OrgIn,
    display_prefix,
    hash_secret,
    new_secret,
    secret_matches,
    temporary_token_claims,
)
from hearth_auth_token.keys import KeyRing
from hearth_auth_token.members import check_key_member

SOURCE = "hearth/auth-token"
_BEARER = {"WWW-Authenticate": "Bearer"}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def org_view(row: asyncpg.Record) -> dict[str, Any]:
    """The API shape of an org."""
    return {"id": row["org_id"], "name": row["name"], "plan": row["plan"],
            "created_at": _iso(row["created_at"])}


def api_key_view(row: asyncpg.Record) -> dict[str, Any]:
    """The API shape of a key: never its secret or its hash."""
    return {
        "id": row["id"], "name": row["name"], "role": row["role"], "scopes": list(row["scopes"]),
        "prefix": row["prefix"], "member_id": row["member_id"], "created_at": _iso(row["created_at"]),
        "last_used_at": _iso(row["last_used_at"]), "revoked_at": _iso(row["revoked_at"]),
    }


def require_platform_admin(principal: Principal) -> None:
    """403 unless the caller holds the operator scope."""
    if SCOPE_PLATFORM_ADMIN not in principal.scopes:
        raise Problem(403, f"this action needs the '{SCOPE_PLATFORM_ADMIN}' scope (the operator key)",
                      slug="forbidden")


# --- orgs --------------------------------------------------------------------------------------


async def _issue_key(
    conn: asyncpg.Connection, *, org_id: str, plan: str, name: str, role: str, scopes: list[str],
    traceparent: str | None, member_id: str | None = None,
) -> tuple[asyncpg.Record, str]:
    """Store a new key (hash only) and announce it; returns the row and the secret (shown once)."""
    secret = new_secret()
    digest = hash_secret(secret)
    row = await repository.insert_api_key(conn, {
        "id": new_id("key"), "org_id": org_id, "name": name, "role": role, "scopes": scopes,
        "prefix": display_prefix(secret), "secret_sha256": digest, "member_id": member_id,
    })
    event = ApiKeyCreated(key_id=row["id"], org_id=org_id, name=row["name"], role=row["role"],
                          scopes=list(row["scopes"]), plan=plan, prefix=row["prefix"], secret_sha256=digest,
                          created_at=row["created_at"], member_id=member_id)
    await outbox.append(conn, source=SOURCE, data=event, subject=row["id"], org_id=org_id, traceparent=traceparent)
    return row, secret


async def create_org(
    conn: asyncpg.Connection, *, body: OrgIn, traceparent: str | None = None
) -> tuple[dict[str, Any], str]:
    """Create an org with its first admin key (operator only; runs in a system transaction).

    Returns the response document with `secret` left null, and the secret separately, so a stored
    idempotent replay never holds it.
    """
    org = await repository.insert_org(conn, org_id=new_id("org"), name=body.name, plan=body.plan)
    event = OrgCreated(org_id=org["org_id"], name=org["name"], plan=org["plan"], created_at=org["created_at"])
    await outbox.append(conn, source=SOURCE, data=event, subject=org["org_id"], org_id=org["org_id"],
                        traceparent=traceparent)
    key, secret = await _issue_key(conn, org_id=org["org_id"], plan=org["plan"], name=f"{body.name} admin",
                                   role="admin", scopes=[], traceparent=traceparent)
    return {"org": org_view(org), "api_key": {**api_key_view(key), "secret": None}}, secret


# --- api keys ----------------------------------------------------------------------------------


async def create_api_key(
    conn: asyncpg.Connection, *, principal: Principal, body: ApiKeyIn, traceparent: str | None = None
) -> tuple[dict[str, Any], str]:
    """Issue a key in the caller's org; returns the view with `secret` null, and the secret separately."""
    org = await repository.get_org(conn, principal.org_id)
    if org is None:
        raise Problem(409, f"org {principal.org_id} is not registered with auth-token; create it first "
                           "(POST /v1/admin/orgs)", slug="org-not-registered")
    await check_key_member(conn, body.member_id)
    row, secret = await _issue_key(conn, org_id=principal.org_id, plan=org["plan"], name=body.name,
                                   role=body.role, scopes=body.scopes, traceparent=traceparent,
                                   member_id=body.member_id)
    return {**api_key_view(row), "secret": None}, secret


async def list_api_keys(
    db: Database, *, principal: Principal, page: PageParams
) -> tuple[list[dict[str, Any]], int]:
    """A page of the caller's org's keys, newest first."""
    async with db.transaction(org_id=principal.org_id) as conn:
        rows, total = await repository.list_api_keys(conn, org_id=principal.org_id, limit=page.limit,
                                                     offset=page.offset)
    return [api_key_view(r) for r in rows], total


async def revoke_api_key(
    db: Database, *, principal: Principal, key_id: str, traceparent: str | None = None
) -> None:
    """Revoke a key of the caller's org (idempotent: a revoked key stays revoked, announced once)."""
    async with db.transaction(org_id=principal.org_id) as conn:
        row = await repository.lock_api_key(conn, org_id=principal.org_id, key_id=key_id)
        if row is None:
            raise not_found("api key", key_id)
        if row["revoked_at"] is not None:
            return
        revoked = await repository.revoke_api_key(conn, key_id)
        event = ApiKeyRevoked(key_id=key_id, org_id=principal.org_id, secret_sha256=row["secret_sha256"],
                              revoked_at=revoked["revoked_at"])
        await outbox.append(conn, source=SOURCE, data=event, subject=key_id, org_id=principal.org_id,
                            traceparent=traceparent)


# --- gateway lookup ----------------------------------------------------------------------------


def _identity(row: asyncpg.Record, settings: Settings) -> dict[str, Any]:
    return {
        "key_id": row["id"], "org_id": row["org_id"], "role": row["role"], "scopes": list(row["scopes"]),
        "plan": row["plan"], "rate_limit_per_hour": settings.plan_limits.get(row["plan"]),
        "revoked": row["revoked_at"] is not None, "member_id": row["member_id"],
    }


def operator_identity(digest: str, settings: Settings) -> dict[str, Any] | None:
    """The operator key's identity when `digest` is its hash (the gateway normally knows it already)."""
    if not settings.admin_key or not hmac.compare_digest(hash_secret(settings.admin_key), digest):
        return None
    return {"key_id": PLATFORM_KEY_ID, "org_id": PLATFORM_ORG_ID, "role": "admin", "scopes": [SCOPE_PLATFORM_ADMIN],
            "plan": "enterprise", "rate_limit_per_hour": None, "revoked": False}


async def identity_by_hash(db: Database, *, digest: str, settings: Settings) -> dict[str, Any]:
    """Who a key secret's hash belongs to, across orgs (for the gateway), or 404."""
    operator = operator_identity(digest, settings)
    if operator is not None:
        return operator
    async with db.system_transaction() as conn:
        row = await repository.key_identity_by_hash(conn, digest)
    if row is None:
        raise Problem(404, "no API key has this hash", slug="not-found")
    return _identity(row, settings)


# --- token exchange ----------------------------------------------------------------------------


async def exchange_token(
    db: Database, keyring: KeyRing, *, principal: Principal, settings: Settings, presented_secret: str | None,
) -> dict[str, Any]:
    """A temporary token for the API key the gateway authenticated (the principal's subject)."""
    if SCOPE_TEMPORARY in principal.scopes:
        raise Problem(403, "a temporary token cannot be exchanged for another; present the API key",
                      slug="temporary-token-not-exchangeable")
    async with db.transaction(org_id=principal.org_id) as conn:
        row = await repository.key_identity_by_id(conn, org_id=principal.org_id, key_id=principal.subject)
        if row is None:
            raise Problem(401, "this credential is not an API key that can be exchanged", slug="unauthorized",
                          headers=_BEARER)
        if row["revoked_at"] is not None:
            raise Problem(401, "the API key has been revoked", slug="api-key-revoked", headers=_BEARER)
        # Defence in depth: when the gateway passed the key itself through, it must be this key.
        if presented_secret is not None and not secret_matches(presented_secret, row["secret_sha256"]):
            raise Problem(401, "the presented API key does not match the authenticated key",
                          slug="unauthorized", headers=_BEARER)
        await repository.touch_api_key(conn, row["id"])
    keys = await keyring.current(db)
    ttl = settings.temp_token_ttl_seconds
    claims = temporary_token_claims(
        key_id=row["id"], org_id=row["org_id"], role=row["role"], scopes=list(row["scopes"]),
        plan=row["plan"], rate_limit_per_hour=settings.plan_limits.get(row["plan"]), issuer=settings.temp_token_issuer,
        audience=settings.temp_token_audience, now=int(time.time()), ttl_seconds=ttl, member_id=row["member_id"],
    )
    return {"temporary_token": keys.signer.sign(claims), "token_type": "Bearer", "expires_at": claims["exp"],
            "expires_in": ttl}
