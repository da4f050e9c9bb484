"""SQL for agents."""

from __future__ import annotations

from typing import Any

import asyncpg

_COLS = "id, org_id, name, email, phone, created_at, updated_at"


async def insert_agent(conn: asyncpg.Connection, row: dict[str, Any]) -> asyncpg.Record:
    out = await conn.fetchrow(
        f"INSERT INTO agents (id, org_id, name, email, phone) VALUES ($1, $2, $3, $4, $5) RETURNING {_COLS}",
        row["id"], row["org_id"], row["name"], row["email"], row["phone"])
    assert out is not None
    return out


async def get_agent(conn: asyncpg.Connection, agent_id: str, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(f"SELECT {_COLS} FROM agents WHERE id = $1{lock}", agent_id)


async def existing_agent_ids(conn: asyncpg.Connection, ids: list[str]) -> set[str]:
    rows = await conn.fetch("SELECT id FROM agents WHERE id = ANY($1::text[])", ids)
    return {r["id"] for r in rows}


async def update_agent(conn: asyncpg.Connection, agent_id: str, fields: dict[str, Any]) -> asyncpg.Record:
    out = await conn.fetchrow(
        f"UPDATE agents SET name = $2, email = $3, phone = $4, updated_at = now() WHERE id = $1 RETURNING {_COLS}",
        agent_id, fields["name"], fields["email"], fields["phone"])
    assert out is not None
    return out


async def list_agents(conn: asyncpg.Connection, *, org_id: str, q: str | None, limit: int,
                      offset: int) -> tuple[list[asyncpg.Record], int]:
    from hearth_property.repository.buildings import like_pattern

    where = "WHERE org_id = $1 AND ($2::text IS NULL OR name ILIKE $2 OR email ILIKE $2)"
    args = [org_id, like_pattern(q) if q else None]
    total = await conn.fetchval(f"SELECT count(*) FROM agents {where}", *args)
    rows = await conn.fetch(
        f"SELECT {_COLS} FROM agents {where} ORDER BY created_at DESC, id LIMIT $3 OFFSET $4", *args, limit, offset)
    return list(rows), int(total)
