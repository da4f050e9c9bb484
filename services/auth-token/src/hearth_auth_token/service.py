"""Auth-token use cases: each runs in the one transaction (`Tx`) the kit opens for it, so rows and
outbox events commit together. Who may call which is decided by the routes' access dependencies."""

from __future__ import annotations

import hmac
import time
from datetime import datetime
from typing import Any

import asyncpg
from hearth_contracts.auth import ApiKeyCreated, ApiKeyRevoked, OrgCreated
from hearth_kit.auth import Principal
from hearth_kit.calls import WithSecret
from hearth_kit.errors import Conflict, Forbidden, NotFound, Unauthenticated
from hearth_kit.ids import new_id
from hearth_kit.pagination import PageParams
from hearth_kit.tx import Tx

from hearth_auth_token import repository
from hearth_auth_token.config import Settings
from hearth_auth_token.domain import (
    PLATFORM_KEY_ID,
    PLATFORM_ORG_ID,
    SCOPE_PLATFORM_ADMIN,
    SCOPE_TEMPORARY,
    SECRET_PREFIX,
    ApiKeyIn,
    OrgIn,
    display_prefix,
    hash_secret,
    new_secret,
    secret_matches,
    temporary_token_claims,
)
from hearth_auth_token.keys import KeySet
from hearth_auth_token.members import check_key_member


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


# --- orgs --------------------------------------------------------------------------------------


async def _issue_key(
    tx: Tx, *, plan: str, name: str, role: str, scopes: list[str], member_id: str | None = None,
) -> tuple[asyncpg.Record, str]:
    """Store a new key of `tx.org_id` (hash only) and announce it; returns the row and the secret (shown once)."""
    org_id = tx.org_id
    secret = new_secret()
    digest = hash_secret(secret)
    row = await repository.insert_api_key(tx.conn, {
        "id": new_id("key"), "org_id": org_id, "name": name, "role": role, "scopes": scopes,
        "prefix": display_prefix(secret), "secret_sha256": digest, "member_id": member_id,
    })
    event = ApiKeyCreated(key_id=row["id"], org_id=org_id, name=row["name"], role=row["role"],
                          scopes=list(row["scopes"]), plan=plan, prefix=row["prefix"], secret_sha256=digest,
                          created_at=row["created_at"], member_id=member_id)
    await tx.emit(event, subject=row["id"])
    return row, secret


async def create_org(tx: Tx, body: OrgIn) -> WithSecret:
    """Create an org with its first admin key (operator only; runs in a cross-org transaction).

    The admin key's secret is shown once, in the first answer only (an idempotent replay shows null).
    """
    org = await repository.insert_org(tx.conn, org_id=new_id("org"), name=body.name, plan=body.plan)
    in_org = tx.for_org(org["org_id"])
    await in_org.emit(OrgCreated(org_id=org["org_id"], name=org["name"], plan=org["plan"],
                                 created_at=org["created_at"]), subject=org["org_id"])
    key, secret = await _issue_key(in_org, plan=org["plan"], name=f"{body.name} admin", role="admin", scopes=[])
    return WithSecret({"org": org_view(org), "api_key": api_key_view(key)}, secret, at=("api_key",))


# --- api keys ----------------------------------------------------------------------------------


async def create_api_key(tx: Tx, body: ApiKeyIn) -> WithSecret:
    """Issue a key in the caller's org; its secret is shown once, in the first answer only."""
    # The caller's own key must still be valid here, not only at the gateway: a temporary token outlives the
    # gateway's view of its key, and a key created with it would outlive the token.
    caller = await repository.key_identity_by_id(tx.conn, org_id=tx.org_id, key_id=tx.caller.subject)
    if caller is not None and caller["revoked_at"] is not None:
        raise Unauthenticated("the API key behind this credential has been revoked", code="token-revoked",
                              title="Token Revoked")
    org = await repository.get_org(tx.conn, tx.org_id)
    if org is None:
        raise Conflict(f"org {tx.org_id} is not registered with auth-token; create it first "
                       "(POST /v1/admin/orgs)", code="org-not-registered")
    await check_key_member(tx.conn, body.member_id)
    row, secret = await _issue_key(tx, plan=org["plan"], name=body.name, role=body.role, scopes=body.scopes,
                                   member_id=body.member_id)
    return WithSecret(api_key_view(row), secret)


async def list_api_keys(tx: Tx, *, page: PageParams) -> tuple[list[dict[str, Any]], int]:
    """A page of the caller's org's keys, newest first."""
    rows, total = await repository.list_api_keys(tx.conn, org_id=tx.org_id, limit=page.limit, offset=page.offset)
    return [api_key_view(r) for r in rows], total


async def revoke_api_key(tx: Tx, key_id: str) -> None:
    """Revoke a key of the caller's org (idempotent: a revoked key stays revoked, announced once)."""
    row = await repository.lock_api_key(tx.conn, org_id=tx.org_id, key_id=key_id)
    if row is None:
        raise NotFound.of("api key", key_id)
    if row["revoked_at"] is not None:
        return
    revoked = await repository.revoke_api_key(tx.conn, key_id)
    await tx.emit(ApiKeyRevoked(key_id=key_id, org_id=tx.org_id, secret_sha256=row["secret_sha256"],
                                revoked_at=revoked["revoked_at"]), subject=key_id)


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


async def identity_by_hash(tx: Tx, *, digest: str, settings: Settings) -> dict[str, Any]:
    """Who a key secret's hash belongs to, across orgs (for the gateway; a cross-org transaction), or 404."""
    operator = operator_identity(digest, settings)
    if operator is not None:
        return operator
    row = await repository.key_identity_by_hash(tx.conn, digest)
    if row is None:
        raise NotFound("no API key has this hash")
    return _identity(row, settings)


async def identity_by_key_id(tx: Tx, *, org_id: str, key_id: str, settings: Settings) -> dict[str, Any]:
    """A key's identity and whether it is revoked, by id (for the gateway's check of temporary tokens), or 404.

    Runs in a transaction scoped to `org_id` (the org named in the path, not the gateway's)."""
    if org_id == PLATFORM_ORG_ID and key_id == PLATFORM_KEY_ID and settings.admin_key:
        return operator_identity(hash_secret(settings.admin_key), settings) or {}
    row = await repository.key_identity_by_id(tx.conn, org_id=org_id, key_id=key_id)
    if row is None:
        raise NotFound("no API key has this id in this org")
    return _identity(row, settings)


# --- token exchange ----------------------------------------------------------------------------


def presented_key(authorization: str | None, permanent_token: str | None) -> str | None:
    """The API key itself, when the gateway passed the caller's credential through."""
    candidates = [permanent_token or ""]
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() == "bearer":
        candidates.append(value)
    for candidate in (c.strip() for c in candidates):
        if candidate.startswith(SECRET_PREFIX):
            return candidate
    return None


async def exchangeable_key(tx: Tx, *, presented_secret: str | None) -> asyncpg.Record:
    """The caller's API key, checked to be exchangeable for a temporary token (and marked used)."""
    principal: Principal = tx.caller
    if SCOPE_TEMPORARY in principal.scopes:
        raise Forbidden("a temporary token cannot be exchanged for another; present the API key",
                        code="temporary-token-not-exchangeable")
    row = await repository.key_identity_by_id(tx.conn, org_id=tx.org_id, key_id=principal.subject)
    if row is None:
        raise Unauthenticated("this credential is not an API key that can be exchanged")
    if row["revoked_at"] is not None:
        raise Unauthenticated("the API key has been revoked", code="api-key-revoked")
    # Defence in depth: when the gateway passed the key itself through, it must be this key.
    if presented_secret is not None and not secret_matches(presented_secret, row["secret_sha256"]):
        raise Unauthenticated("the presented API key does not match the authenticated key")
    await repository.touch_api_key(tx.conn, row["id"])
    return row


def temporary_token(row: asyncpg.Record, keys: KeySet, settings: Settings) -> dict[str, Any]:
    """Sign a temporary token for an exchangeable key."""
    ttl = settings.temp_token_ttl_seconds
    claims = temporary_token_claims(
        key_id=row["id"], org_id=row["org_id"], role=row["role"], scopes=list(row["scopes"]),
        plan=row["plan"], rate_limit_per_hour=settings.plan_limits.get(row["plan"]), issuer=settings.temp_token_issuer,
        audience=settings.temp_token_audience, now=int(time.time()), ttl_seconds=ttl, member_id=row["member_id"],
    )
    return {"temporary_token": keys.signer.sign(claims), "token_type": "Bearer", "expires_at": claims["exp"],
            "expires_in": ttl}
