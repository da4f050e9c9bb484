"""SQL for buildings (unit counts are computed, never stored)."""

from __future__ import annotations

from typing import Any

import asyncpg

_BUILDING_COLUMNS = "b.id, b.org_id, b.name, b.type, b.address, b.timezone, b.status, b.created_at, b.updated_at"
# occupied = units whose status is `rented` (a lease running today sets it; see README)
_COUNTS = (
    "(SELECT count(*) FROM units u WHERE u.building_id = b.id) AS units,"
    " (SELECT count(*) FROM units u WHERE u.building_id = b.id AND u.status = 'rented') AS occupied_units"
)
_BUILDING_SELECT = f"SELECT {_BUILDING_COLUMNS}, {_COUNTS} FROM buildings b"


def like_pattern(q: str) -> str:
    """A case-insensitive substring pattern with LIKE's wildcards escaped."""
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def insert_building(conn: asyncpg.Connection, row: dict[str, Any]) -> asyncpg.Record:
    out = await conn.fetchrow(
        "INSERT INTO buildings (id, org_id, name, type, address, timezone, status)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " RETURNING id, org_id, name, type, address, timezone, status, created_at, updated_at,"
        " 0 AS units, 0 AS occupied_units",
        row["id"], row["org_id"], row["name"], row["type"], row["address"], row["timezone"], row["status"],
    )
    assert out is not None
    return out


async def get_building(
    conn: asyncpg.Connection, building_id: str, *, for_update: bool = False
) -> asyncpg.Record | None:
    if for_update:
        await conn.execute("SELECT 1 FROM buildings WHERE id = $1 FOR UPDATE", building_id)
    return await conn.fetchrow(f"{_BUILDING_SELECT} WHERE b.id = $1", building_id)


async def update_building(conn: asyncpg.Connection, building_id: str, fields: dict[str, Any]) -> asyncpg.Record:
    cols = ["name", "type", "address", "timezone", "status"]
    await conn.execute(
        "UPDATE buildings SET name = $2, type = $3, address = $4, timezone = $5, status = $6, updated_at = now()"
        " WHERE id = $1", building_id, *[fields[c] for c in cols],
    )
    out = await get_building(conn, building_id)
    assert out is not None
    return out


async def delete_building(conn: asyncpg.Connection, building_id: str) -> None:
    await conn.execute("DELETE FROM buildings WHERE id = $1", building_id)


async def list_buildings(
    conn: asyncpg.Connection, *, org_id: str | None = None, status: str | None, type_: str | None = None,
    q: str | None = None, limit: int, offset: int,
) -> tuple[list[asyncpg.Record], int]:
    where = ("WHERE ($1::text IS NULL OR b.status = $1) AND ($2::text IS NULL OR b.type = $2)"
             " AND ($3::text IS NULL OR b.name ILIKE $3) AND ($4::text IS NULL OR b.org_id = $4)")
    args = [status, type_, like_pattern(q) if q else None, org_id]
    total = await conn.fetchval(f"SELECT count(*) FROM buildings b {where}", *args)
    rows = await conn.fetch(
        f"{_BUILDING_SELECT} {where} ORDER BY b.created_at DESC, b.id LIMIT $5 OFFSET $6", *args, limit, offset
    )
    return list(rows), int(total)


async def existing_building_ids(conn: asyncpg.Connection, ids: list[str]) -> set[str]:
    rows = await conn.fetch("SELECT id FROM buildings WHERE id = ANY($1::text[])", ids)
    return {r["id"] for r in rows}
