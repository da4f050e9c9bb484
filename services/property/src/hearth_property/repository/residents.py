"""SQL for residents and the payments projection."""

from __future__ import annotations

from typing import Any

import asyncpg

from hearth_property.repository.buildings import like_pattern

_COLS = "r.id, r.org_id, r.name, r.email, r.phone, r.emergency_contacts, r.status, r.created_at, r.updated_at"
_RET = _COLS.replace("r.", "")


async def insert_resident(conn: asyncpg.Connection, row: dict[str, Any]) -> asyncpg.Record:
    out = await conn.fetchrow(
        "INSERT INTO residents (id, org_id, name, email, phone, emergency_contacts, status)"
        f" VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {_RET}",
        row["id"], row["org_id"], row["name"], row["email"], row["phone"], row["emergency_contacts"], row["status"])
    assert out is not None
    return out


async def get_resident(conn: asyncpg.Connection, resident_id: str, *,
                       for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(f"SELECT {_COLS} FROM residents r WHERE r.id = $1{lock}", resident_id)


async def existing_resident_ids(conn: asyncpg.Connection, ids: list[str]) -> set[str]:
    rows = await conn.fetch("SELECT id FROM residents WHERE id = ANY($1::text[])", ids)
    return {r["id"] for r in rows}


async def update_resident(conn: asyncpg.Connection, resident_id: str, fields: dict[str, Any]) -> asyncpg.Record:
    out = await conn.fetchrow(
        "UPDATE residents SET name = $2, email = $3, phone = $4, emergency_contacts = $5, status = $6,"
        f" updated_at = now() WHERE id = $1 RETURNING {_RET}",
        resident_id, fields["name"], fields["email"], fields["phone"], fields["emergency_contacts"],
        fields["status"])
    assert out is not None
    return out


async def list_residents(
    conn: asyncpg.Connection, *, org_id: str, building_id: str | None, unit_id: str | None, status: str | None,
    q: str | None, limit: int, offset: int,
) -> tuple[list[asyncpg.Record], int]:
    # building/unit membership comes from the resident's leases (any status)
    where = (
        "WHERE r.org_id = $1 AND ($2::text IS NULL OR r.status = $2)"
        " AND ($3::text IS NULL OR r.name ILIKE $3 OR r.email ILIKE $3 OR r.phone ILIKE $3)"
        " AND ($4::text IS NULL AND $5::text IS NULL OR EXISTS ("
        "   SELECT 1 FROM lease_residents lr JOIN leases l ON l.id = lr.lease_id"
        "   WHERE lr.resident_id = r.id AND ($4::text IS NULL OR l.building_id = $4)"
        "   AND ($5::text IS NULL OR l.unit_id = $5)))"
    )
    args = [org_id, status, like_pattern(q) if q else None, building_id, unit_id]
    total = await conn.fetchval(f"SELECT count(*) FROM residents r {where}", *args)
    rows = await conn.fetch(
        f"SELECT {_COLS} FROM residents r {where} ORDER BY r.created_at DESC, r.id LIMIT $6 OFFSET $7",
        *args, limit, offset)
    return list(rows), int(total)


async def payments_of(conn: asyncpg.Connection, *, org_id: str, resident_id: str, limit: int,
                      offset: int) -> tuple[list[asyncpg.Record], int]:
    """One page of a resident's payment records, latest first, and how many there are."""
    total = await conn.fetchval("SELECT count(*) FROM payments WHERE org_id = $1 AND resident_id = $2",
                                org_id, resident_id)
    rows = await conn.fetch(
        "SELECT payment_id, lease_id, amount, currency, method, paid_at, reference, status, reversed_at FROM payments"
        " WHERE org_id = $1 AND resident_id = $2 ORDER BY paid_at DESC, payment_id LIMIT $3 OFFSET $4",
        org_id, resident_id, limit, offset)
    return list(rows), int(total)


async def reverse_payment(conn: asyncpg.Connection, *, payment_id: str, reversed_at: Any, reason: str | None) -> None:
    await conn.execute("UPDATE payments SET status = 'reversed', reversed_at = $2, reversal_reason = $3"
                       " WHERE payment_id = $1", payment_id, reversed_at, reason)


async def holds_running_lease(conn: asyncpg.Connection, resident_id: str, *, today: Any) -> str | None:
    """An active or future lease of the resident (by dates), if any."""
    found: str | None = await conn.fetchval(
        "SELECT l.id FROM lease_residents lr JOIN leases l ON l.id = lr.lease_id WHERE lr.resident_id = $1"
        " AND (l.end_date IS NULL OR l.end_date >= $2) AND (l.terminated_on IS NULL OR l.terminated_on > $2)"
        " AND (l.terminated_on IS NULL OR l.terminated_on > l.start_date) LIMIT 1", resident_id, today)
    return found


async def delete_resident(conn: asyncpg.Connection, resident_id: str) -> None:
    await conn.execute("DELETE FROM residents WHERE id = $1", resident_id)


async def residents_of_lease(conn: asyncpg.Connection, lease_id: str) -> list[asyncpg.Record]:
    return list(await conn.fetch(
        f"SELECT {_COLS} FROM residents r JOIN lease_residents lr ON lr.resident_id = r.id WHERE lr.lease_id = $1"
        " ORDER BY r.id FOR UPDATE OF r", lease_id))


async def set_status(conn: asyncpg.Connection, resident_id: str, status: str) -> asyncpg.Record:
    out = await conn.fetchrow(f"UPDATE residents SET status = $2, updated_at = now() WHERE id = $1 RETURNING {_RET}",
                              resident_id, status)
    assert out is not None
    return out


async def has_active_lease_besides(conn: asyncpg.Connection, resident_id: str, lease_id: str) -> bool:
    """Another lease of the resident announced as running."""
    return bool(await conn.fetchval(
        "SELECT 1 FROM lease_residents lr JOIN leases l ON l.id = lr.lease_id WHERE lr.resident_id = $1"
        " AND l.id <> $2 AND l.announced = 'active' LIMIT 1", resident_id, lease_id))


async def record_payment(conn: asyncpg.Connection, row: dict[str, Any]) -> bool:
    """Insert one projected payment; False when it was already there."""
    done = await conn.fetchval(
        "INSERT INTO payments (payment_id, org_id, resident_id, lease_id, amount, currency, method, paid_at,"
        " reference) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (payment_id) DO NOTHING RETURNING 1",
        row["payment_id"], row["org_id"], row["resident_id"], row["lease_id"], row["amount"], row["currency"],
        row["method"], row["paid_at"], row["reference"])
    return done is not None
