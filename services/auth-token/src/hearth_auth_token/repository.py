"""All SQL of the auth-token service. Org-scoped queries also filter org_id explicitly (RLS backs them)."""

from __future__ import annotations

from typing import Any

import asyncpg
from hearth_kit.db import fetch_many

_COLUMNS = "id, org_id, name, role, scopes, prefix, secret_sha256, created_at, last_used_at, revoked_at, member_id"
_KEY_COLUMNS = ", ".join(f"k.{c.strip()}" for c in _COLUMNS.split(","))


def _one(row: asyncpg.Record | None) -> asyncpg.Record:
    """The row of an INSERT/UPDATE ... RETURNING that must have produced one."""
    assert row is not None
    return row


# --- orgs --------------------------------------------------------------------------------------


async def insert_org(conn: asyncpg.Connection, *, org_id: str, name: str, plan: str) -> asyncpg.Record:
    return _one(await conn.fetchrow(
        "INSERT INTO orgs (org_id, name, plan) VALUES ($1, $2, $3) RETURNING org_id, name, plan, created_at",
        org_id, name, plan,
    ))


async def get_org(conn: asyncpg.Connection, org_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT org_id, name, plan, created_at FROM orgs WHERE org_id = $1", org_id)


# --- api keys ----------------------------------------------------------------------------------


async def insert_api_key(conn: asyncpg.Connection, row: dict[str, Any]) -> asyncpg.Record:
    return _one(await conn.fetchrow(
        "INSERT INTO api_keys (id, org_id, name, role, scopes, prefix, secret_sha256, member_id)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        f" RETURNING {_COLUMNS}",
        row["id"], row["org_id"], row["name"], row["role"], row["scopes"], row["prefix"],
        row["secret_sha256"], row.get("member_id"),
    ))


async def list_api_keys(
    conn: asyncpg.Connection, *, org_id: str, limit: int, offset: int
) -> tuple[list[asyncpg.Record], int]:
    total = await conn.fetchval("SELECT count(*) FROM api_keys WHERE org_id = $1", org_id)
    rows = await fetch_many(
        conn,
        f"SELECT {_KEY_COLUMNS} FROM api_keys k WHERE k.org_id = $1"
        " ORDER BY k.created_at DESC, k.id DESC LIMIT $2 OFFSET $3",
        org_id, limit, offset,
    )
    return rows, int(total)


async def lock_api_key(conn: asyncpg.Connection, *, org_id: str, key_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_KEY_COLUMNS} FROM api_keys k WHERE k.org_id = $1 AND k.id = $2 FOR UPDATE", org_id, key_id
    )


async def revoke_api_key(conn: asyncpg.Connection, key_id: str) -> asyncpg.Record:
    return _one(await conn.fetchrow(
        "UPDATE api_keys SET revoked_at = now() WHERE id = $1 RETURNING revoked_at", key_id
    ))


async def key_identity_by_id(conn: asyncpg.Connection, *, org_id: str, key_id: str) -> asyncpg.Record | None:
    """A key with its org's plan (org-scoped)."""
    return await conn.fetchrow(
        f"SELECT {_KEY_COLUMNS}, o.plan FROM api_keys k JOIN orgs o ON o.org_id = k.org_id"
        " WHERE k.org_id = $1 AND k.id = $2",
        org_id, key_id,
    )


async def key_identity_by_hash(conn: asyncpg.Connection, secret_sha256: str) -> asyncpg.Record | None:
    """A key with its org's plan, found by its secret's hash (crosses orgs: system transactions only)."""
    return await conn.fetchrow(
        f"SELECT {_KEY_COLUMNS}, o.plan FROM api_keys k JOIN orgs o ON o.org_id = k.org_id"
        " WHERE k.secret_sha256 = $1",
        secret_sha256,
    )


async def touch_api_key(conn: asyncpg.Connection, key_id: str) -> None:
    await conn.execute("UPDATE api_keys SET last_used_at = now() WHERE id = $1", key_id)


# --- signing keys ------------------------------------------------------------------------------


async def lock_signing_keys(conn: asyncpg.Connection) -> None:
    """Serialise key creation and rotation across replicas (until the transaction ends)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", "hearth-auth:signing-keys")


async def published_signing_keys(conn: asyncpg.Connection, *, window_seconds: int) -> list[asyncpg.Record]:
    """Active keys and keys retired less than `window_seconds` ago, newest first."""
    return await fetch_many(
        conn,
        "SELECT kid, private_pem, created_at, retired_at FROM signing_keys"
        " WHERE retired_at IS NULL OR retired_at > now() - make_interval(secs => $1)"
        " ORDER BY created_at DESC, kid DESC",
        float(window_seconds),
    )


async def insert_signing_key(conn: asyncpg.Connection, *, kid: str, private_pem: str) -> None:
    await conn.execute("INSERT INTO signing_keys (kid, private_pem) VALUES ($1, $2)", kid, private_pem)


async def retire_signing_keys(conn: asyncpg.Connection) -> None:
    await conn.execute("UPDATE signing_keys SET retired_at = now() WHERE retired_at IS NULL")


# --- members -----------------------------------------------------------------------------------

_MEMBER_COLUMNS = "id, org_id, name, email, phone, role, created_at, updated_at"


async def insert_member(conn: asyncpg.Connection, row: dict[str, Any]) -> asyncpg.Record:
    return _one(await conn.fetchrow(
        f"INSERT INTO members (id, org_id, name, email, phone, role) VALUES ($1, $2, $3, $4, $5, $6)"
        f" RETURNING {_MEMBER_COLUMNS}",
        row["id"], row["org_id"], row["name"], row["email"], row["phone"], row["role"],
    ))


async def get_member(conn: asyncpg.Connection, member_id: str, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(f"SELECT {_MEMBER_COLUMNS} FROM members WHERE id = $1{lock}", member_id)


async def list_members(
    conn: asyncpg.Connection, *, org_id: str, role: str | None, limit: int, offset: int
) -> tuple[list[asyncpg.Record], int]:
    where = "WHERE org_id = $1 AND ($2::text IS NULL OR role = $2)"
    total = await conn.fetchval(f"SELECT count(*) FROM members {where}", org_id, role)
    rows = await fetch_many(conn, f"SELECT {_MEMBER_COLUMNS} FROM members {where}"
                            " ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4", org_id, role, limit, offset)
    return rows, int(total)


async def update_member(conn: asyncpg.Connection, member_id: str, fields: dict[str, Any]) -> asyncpg.Record:
    return _one(await conn.fetchrow(
        "UPDATE members SET name = $2, email = $3, phone = $4, role = $5, updated_at = now() WHERE id = $1"
        f" RETURNING {_MEMBER_COLUMNS}",
        member_id, fields["name"], fields["email"], fields["phone"], fields["role"],
    ))


async def delete_member(conn: asyncpg.Connection, member_id: str) -> None:
    await conn.execute("DELETE FROM members WHERE id = $1", member_id)


async def live_keys_of_member(conn: asyncpg.Connection, member_id: str) -> int:
    return int(await conn.fetchval(
        "SELECT count(*) FROM api_keys WHERE member_id = $1 AND revoked_at IS NULL", member_id))


async def email_taken(conn: asyncpg.Connection, *, email: str, except_id: str | None) -> bool:
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM members WHERE lower(email) = lower($1) AND ($2::text IS NULL OR id <> $2))",
        email, except_id))


async def detach_revoked_keys(conn: asyncpg.Connection, member_id: str) -> None:
    """Revoked keys keep their history but let go of a member being deleted."""
    await conn.execute("UPDATE api_keys SET member_id = NULL WHERE member_id = $1", member_id)
