"""All SQL of the property service."""

from __future__ import annotations

from typing import Any

import asyncpg

_BUILDING_COLUMNS = "b.id, b.org_id, b.name, b.type, b.address, b.timezone, b.status, b.created_at, b.updated_at"
# Unit counts join in once the units table exists (see migrations); computed, never stored.
_BUILDING_SELECT = f"SELECT {_BUILDING_COLUMNS}, 0 AS units, 0 AS occupied_units FROM buildings b"


async def insert_building(conn: asyncpg.Connection, row: dict[str, Any]) -> asyncpg.Record:
    return await conn.fetchrow(
        "INSERT INTO buildings (id, org_id, name, type, address, timezone, status)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " RETURNING id, org_id, name, type, address, timezone, status, created_at, updated_at,"
        " 0 AS units, 0 AS occupied_units",
        row["id"], row["org_id"], row["name"], row["type"], row["address"], row["timezone"], row["status"],
    )


async def get_building(conn: asyncpg.Connection, building_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"{_BUILDING_SELECT} WHERE b.id = $1", building_id)


async def list_buildings(
    conn: asyncpg.Connection, *, status: str | None, limit: int, offset: int
) -> tuple[list[asyncpg.Record], int]:
    where, args = "WHERE ($1::text IS NULL OR b.status = $1)", [status]
    total = await conn.fetchval(f"SELECT count(*) FROM buildings b {where}", *args)
    rows = await conn.fetch(
        f"{_BUILDING_SELECT} {where} ORDER BY b.created_at DESC, b.id LIMIT $2 OFFSET $3", *args, limit, offset
    )
    return list(rows), int(total)
