"""SQL for leases (status is computed from dates in the building's time zone, never stored)."""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg

LEASE_COLUMNS = (
    "l.id, l.org_id, l.unit_id, l.building_id, l.type, l.start_date, l.end_date, l.rent_amount,"
    " l.rent_currency, l.deposit_amount, l.deposit_currency, l.payment_due_day, l.terminated_on,"
    " l.termination_reason, l.announced, l.created_at, l.updated_at, b.timezone,"
    " ARRAY(SELECT lr.resident_id FROM lease_residents lr WHERE lr.lease_id = l.id ORDER BY lr.resident_id)"
    " AS resident_ids"
)
_FROM = "FROM leases l JOIN buildings b ON b.id = l.building_id"
# SQL twin of domain.lease_status, for filtering lists by status
_TODAY = "(now() AT TIME ZONE b.timezone)::date"
STATUS_SQL = (
    f"CASE WHEN l.terminated_on IS NOT NULL AND {_TODAY} >= l.terminated_on THEN 'terminated'"
    f" WHEN {_TODAY} < l.start_date THEN 'future'"
    f" WHEN l.end_date IS NOT NULL AND {_TODAY} > l.end_date THEN 'past' ELSE 'active' END"
)


async def insert_lease(conn: asyncpg.Connection, row: dict[str, Any], resident_ids: list[str]) -> None:
    await conn.execute(
        "INSERT INTO leases (id, org_id, unit_id, building_id, type, start_date, end_date, rent_amount,"
        " rent_currency, deposit_amount, deposit_currency, payment_due_day, announced)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        row["id"], row["org_id"], row["unit_id"], row["building_id"], row["type"], row["start_date"],
        row["end_date"], row["rent_amount"], row["rent_currency"], row["deposit_amount"],
        row["deposit_currency"], row["payment_due_day"], row["announced"])
    await conn.execute(
        "INSERT INTO lease_residents (lease_id, resident_id, org_id)"
        " SELECT $1, r, $3 FROM unnest($2::text[]) AS r", row["id"], resident_ids, row["org_id"])


async def get_lease(conn: asyncpg.Connection, lease_id: str, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE OF l" if for_update else ""
    return await conn.fetchrow(f"SELECT {LEASE_COLUMNS} {_FROM} WHERE l.id = $1{lock}", lease_id)


async def overlapping_lease(conn: asyncpg.Connection, *, unit_id: str, start: date,
                            until: date | None) -> str | None:
    """The id of a lease on this unit sharing a day with [start, until), if any (caller holds the unit lock)."""
    found = await conn.fetchval(
        "SELECT id FROM leases WHERE unit_id = $1"
        " AND daterange(start_date, LEAST(end_date + 1, terminated_on), '[)') && daterange($2, $3, '[)')"
        " AND NOT isempty(daterange(start_date, LEAST(end_date + 1, terminated_on), '[)'))"
        " ORDER BY start_date LIMIT 1", unit_id, start, until)
    return None if found is None else str(found)


async def terminate(conn: asyncpg.Connection, lease_id: str, *, on: date, reason: str | None) -> None:
    await conn.execute(
        "UPDATE leases SET terminated_on = $2, termination_reason = $3, updated_at = now() WHERE id = $1",
        lease_id, on, reason)


async def set_announced(conn: asyncpg.Connection, lease_id: str, announced: str) -> None:
    await conn.execute("UPDATE leases SET announced = $2, updated_at = now() WHERE id = $1", lease_id, announced)


async def list_leases(
    conn: asyncpg.Connection, *, org_id: str, unit_id: str | None, resident_id: str | None, status: str | None,
    limit: int, offset: int,
) -> tuple[list[asyncpg.Record], int]:
    where = (
        f"WHERE l.org_id = $1 AND ($2::text IS NULL OR l.unit_id = $2)"
        f" AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM lease_residents x WHERE x.lease_id = l.id"
        f" AND x.resident_id = $3)) AND ($4::text IS NULL OR ({STATUS_SQL}) = $4)"
    )
    args = [org_id, unit_id, resident_id, status]
    total = await conn.fetchval(f"SELECT count(*) {_FROM} {where}", *args)
    rows = await conn.fetch(
        f"SELECT {LEASE_COLUMNS} {_FROM} {where} ORDER BY l.start_date DESC, l.id LIMIT $5 OFFSET $6",
        *args, limit, offset)
    return list(rows), int(total)


async def leases_of_resident(conn: asyncpg.Connection, resident_id: str) -> list[asyncpg.Record]:
    return list(await conn.fetch(
        f"SELECT {LEASE_COLUMNS} {_FROM} JOIN lease_residents r ON r.lease_id = l.id"
        " WHERE r.resident_id = $1 ORDER BY l.start_date DESC, l.id", resident_id))


async def sweep_candidates(conn: asyncpg.Connection, *, horizon: date, limit: int) -> list[asyncpg.Record]:
    """Leases whose announced state may lag their dates (a day of slack covers every time zone)."""
    return list(await conn.fetch(
        f"SELECT {LEASE_COLUMNS} {_FROM}"
        " WHERE (l.announced = 'none' AND l.start_date <= $1)"
        "    OR (l.announced <> 'ended' AND (l.end_date < $1 OR l.terminated_on <= $1))"
        " ORDER BY l.start_date, l.id LIMIT $2 FOR UPDATE OF l SKIP LOCKED", horizon, limit))
