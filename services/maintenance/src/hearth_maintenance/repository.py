"""All SQL of the maintenance service (RLS scopes every statement to the transaction's org)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

_OPEN = "('new', 'assigned', 'in_progress', 'on_hold')"
# `meta.total` counts at most this many matches (then `total_capped` is set).
COUNT_CAP = 1_000
# A full page whose filter the planner expects to match this many rows is reported as capped without counting:
# counting the first 1,001 matches of a sparse filter over a big org scans tens of thousands of rows.
ESTIMATE_AS_CAPPED = 2 * COUNT_CAP
_COLUMNS = (
    "id, org_id, building_id, unit_id, title, description, category, priority, status, source, reporter_id,"
    " permission_to_enter, entry_notes, assignee_id, vendor_name, window_start, window_end, due_at, completed_at,"
    " attachments, reopen_count, sensor_id, alert_id, alert_active, lock_id, overdue_announced_at, created_by,"
    " created_at, updated_at,"
    f" (status IN {_OPEN} AND due_at < now()) AS overdue"
)
# Columns a use case may change with `update_request` (never ids, org or creation facts).
_UPDATABLE = frozenset({
    "title", "description", "category", "priority", "status", "permission_to_enter", "entry_notes", "assignee_id",
    "vendor_name", "window_start", "window_end", "due_at", "completed_at", "attachments", "reopen_count",
    "alert_id", "alert_active", "overdue_announced_at",
})
# Sort keys the API offers → ORDER BY (always ending with id, so pages are stable).
SORTS: dict[str, str] = {
    "created_at": "created_at ASC, id ASC", "-created_at": "created_at DESC, id DESC",
    "updated_at": "updated_at ASC, id ASC", "-updated_at": "updated_at DESC, id DESC",
    "due_at": "due_at ASC, id ASC", "-due_at": "due_at DESC, id DESC",
    "priority": "priority_rank ASC, created_at ASC, id ASC",
    "-priority": "priority_rank DESC, created_at DESC, id DESC",
}


def like_pattern(q: str) -> str:
    """A case-insensitive substring pattern with LIKE's wildcards escaped."""
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


# --- requests ------------------------------------------------------------------------------------


async def insert_request(conn: asyncpg.Connection, row: dict[str, Any]) -> asyncpg.Record:
    names = list(row)
    placeholders = ", ".join(f"${i}" for i in range(1, len(names) + 1))
    out = await conn.fetchrow(
        f"INSERT INTO requests ({', '.join(names)}) VALUES ({placeholders}) RETURNING {_COLUMNS}", *row.values())
    assert out is not None
    return out


async def get_request(
    conn: asyncpg.Connection, request_id: str, *, for_update: bool = False, narrowed: bool = False,
    assignee_id: str | None = None,
) -> asyncpg.Record | None:
    """One request; `narrowed` hides every request not assigned to `assignee_id` (a technician's view)."""
    lock = " FOR UPDATE" if for_update else ""
    if narrowed:
        return await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM requests WHERE id = $1 AND assignee_id = $2{lock}", request_id, assignee_id)
    return await conn.fetchrow(f"SELECT {_COLUMNS} FROM requests WHERE id = $1{lock}", request_id)


async def update_request(conn: asyncpg.Connection, request_id: str, fields: dict[str, Any]) -> asyncpg.Record:
    bad = set(fields) - _UPDATABLE
    if bad:
        raise ValueError(f"not updatable: {sorted(bad)}")
    sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(fields, start=2))
    out = await conn.fetchrow(
        f"UPDATE requests SET {sets}{', ' if sets else ''}updated_at = now() WHERE id = $1 RETURNING {_COLUMNS}",
        request_id, *fields.values())
    assert out is not None
    return out


@dataclass(frozen=True)
class RequestFilter:
    """What GET /v1/requests narrows by (None = any)."""

    statuses: list[str] | None = None
    priority: str | None = None
    category: str | None = None
    building_id: str | None = None
    unit_id: str | None = None
    assignee_id: str | None = None
    overdue: bool | None = None
    source: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    q: str | None = None
    # a technician's view: only what is assigned to `only_assignee`
    narrowed: bool = False
    only_assignee: str | None = None


async def list_requests(
    conn: asyncpg.Connection, *, org_id: str, f: RequestFilter, sort: str, limit: int, offset: int,
) -> tuple[list[asyncpg.Record], int]:
    # org_id is also in the WHERE (RLS enforces it anyway) so the (org_id, ...) indexes are used.
    clauses = ["org_id = $1"]
    args: list[Any] = [org_id]

    def add(sql: str, value: Any) -> None:
        args.append(value)
        clauses.append(sql.replace("$?", f"${len(args)}"))

    if f.statuses:
        add("status = ANY($?::text[])", f.statuses)
    for column in ("priority", "category", "building_id", "unit_id", "assignee_id", "source"):
        value = getattr(f, column)
        if value is not None:
            add(f"{column} = $?", value)
    if f.narrowed:
        add("assignee_id = $?", f.only_assignee)
    if f.overdue is True:
        clauses.append(f"status IN {_OPEN} AND due_at < now()")
    elif f.overdue is False:
        clauses.append(f"NOT (status IN {_OPEN} AND due_at < now())")
    if f.created_from is not None:
        add("created_at >= $?", f.created_from)
    if f.created_to is not None:
        add("created_at < $?", f.created_to)
    if f.q:
        add("title ILIKE $?", like_pattern(f.q))
    where = " AND ".join(clauses)
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM requests WHERE {where} ORDER BY {SORTS[sort]}"
        f" LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}", *args, limit, offset)
    return list(rows), await _total(conn, where, args, shown=len(rows), limit=limit, offset=offset)


async def _total(conn: asyncpg.Connection, where: str, args: list[Any], *, shown: int, limit: int,
                 offset: int) -> int:
    """The matches of a list, counted up to COUNT_CAP + 1, as cheaply as it can be known.

    A page that is not full is the last one, so it tells the total itself (no query). A full page of a
    filter the planner expects to match far more than the cap is over the cap (one plan, no scan).
    Otherwise the matches are counted, stopping after the cap.
    """
    if 0 < shown < limit or (shown == 0 and offset == 0):
        return offset + shown
    if shown == limit:
        plan = await conn.fetchval(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM requests WHERE {where}", *args)
        estimate = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]["Plan Rows"]
        if estimate >= ESTIMATE_AS_CAPPED:
            return COUNT_CAP + 1
    counted = await conn.fetchval(
        f"SELECT count(*) FROM (SELECT 1 FROM requests WHERE {where} LIMIT {COUNT_CAP + 1}) s", *args)
    return int(counted)


async def open_request_for(conn: asyncpg.Connection, *, column: str, value: str) -> asyncpg.Record | None:
    """The open request opened by this sensor or lock (at most one, by a unique index), locked."""
    assert column in ("sensor_id", "lock_id")
    return await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM requests WHERE {column} = $1 AND status IN {_OPEN} FOR UPDATE", value)


async def requests_of_alert(conn: asyncpg.Connection, *, sensor_id: str, alert_id: str) -> list[asyncpg.Record]:
    """Requests whose sensor alert is still marked raised (the episode `alert_id`, or the sensor's open one)."""
    return list(await conn.fetch(
        f"SELECT {_COLUMNS} FROM requests WHERE sensor_id = $1 AND alert_active"
        f" AND (alert_id = $2 OR status IN {_OPEN}) FOR UPDATE", sensor_id, alert_id))


async def open_requests_of_unit(conn: asyncpg.Connection, unit_id: str) -> list[asyncpg.Record]:
    return list(await conn.fetch(
        f"SELECT {_COLUMNS} FROM requests WHERE unit_id = $1 AND status IN {_OPEN} ORDER BY id FOR UPDATE",
        unit_id))


async def overdue_pending(conn: asyncpg.Connection, *, limit: int) -> list[asyncpg.Record]:
    """Open requests past their deadline not yet announced, across orgs (system transaction), locked."""
    return list(await conn.fetch(
        f"SELECT {_COLUMNS} FROM requests WHERE overdue_announced_at IS NULL AND status IN {_OPEN}"
        " AND due_at < now() ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED", limit))


async def mark_overdue_announced(conn: asyncpg.Connection, ids: list[str]) -> None:
    await conn.execute("UPDATE requests SET overdue_announced_at = now() WHERE id = ANY($1::text[])", ids)


# --- history and comments ------------------------------------------------------------------------


async def add_history(
    conn: asyncpg.Connection, *, org_id: str, request_id: str, kind: str, actor_id: str,
    from_status: str | None = None, to_status: str | None = None, reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO request_history (org_id, request_id, kind, from_status, to_status, actor_id, reason, details)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        org_id, request_id, kind, from_status, to_status, actor_id, reason, details or {})


async def history_of(conn: asyncpg.Connection, request_id: str) -> list[asyncpg.Record]:
    return list(await conn.fetch(
        "SELECT kind, from_status, to_status, actor_id, reason, details, at FROM request_history"
        " WHERE request_id = $1 ORDER BY id", request_id))


async def insert_comment(conn: asyncpg.Connection, row: dict[str, Any]) -> asyncpg.Record:
    out = await conn.fetchrow(
        "INSERT INTO request_comments (id, org_id, request_id, author_id, body) VALUES ($1, $2, $3, $4, $5)"
        " RETURNING id, request_id, author_id, body, created_at",
        row["id"], row["org_id"], row["request_id"], row["author_id"], row["body"])
    assert out is not None
    return out


async def comments_of(
    conn: asyncpg.Connection, request_id: str, *, limit: int, offset: int,
) -> tuple[list[asyncpg.Record], int]:
    total = await conn.fetchval("SELECT count(*) FROM request_comments WHERE request_id = $1", request_id)
    rows = await conn.fetch(
        "SELECT id, request_id, author_id, body, created_at FROM request_comments WHERE request_id = $1"
        " ORDER BY created_at, id LIMIT $2 OFFSET $3", request_id, limit, offset)
    return list(rows), int(total)


# --- settings --------------------------------------------------------------------------------------


async def get_sla_hours(conn: asyncpg.Connection) -> tuple[dict[str, int] | None, datetime | None]:
    row = await conn.fetchrow("SELECT sla_hours, updated_at FROM org_settings")
    return (None, None) if row is None else (dict(row["sla_hours"]), row["updated_at"])


async def put_sla_hours(conn: asyncpg.Connection, *, org_id: str, sla_hours: dict[str, int]) -> datetime:
    return await conn.fetchval(  # type: ignore[no-any-return]
        "INSERT INTO org_settings (org_id, sla_hours) VALUES ($1, $2) ON CONFLICT (org_id)"
        " DO UPDATE SET sla_hours = excluded.sla_hours, updated_at = now() RETURNING updated_at",
        org_id, sla_hours)


# --- projections (buildings, units, members) -------------------------------------------------------


async def upsert_building(conn: asyncpg.Connection, *, building_id: str, org_id: str, name: str) -> None:
    await conn.execute(
        "INSERT INTO buildings (id, org_id, name) VALUES ($1, $2, $3)"
        " ON CONFLICT (id) DO UPDATE SET name = excluded.name, updated_at = now()", building_id, org_id, name)


async def delete_building(conn: asyncpg.Connection, building_id: str) -> None:
    await conn.execute("DELETE FROM buildings WHERE id = $1", building_id)


async def upsert_unit(conn: asyncpg.Connection, *, unit_id: str, org_id: str, building_id: str, name: str) -> None:
    await conn.execute(
        "INSERT INTO units (id, org_id, building_id, name) VALUES ($1, $2, $3, $4) ON CONFLICT (id)"
        " DO UPDATE SET building_id = excluded.building_id, name = excluded.name, updated_at = now()",
        unit_id, org_id, building_id, name)


async def delete_unit(conn: asyncpg.Connection, unit_id: str) -> None:
    await conn.execute("DELETE FROM units WHERE id = $1", unit_id)


async def building_known(conn: asyncpg.Connection, building_id: str) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM buildings WHERE id = $1)", building_id))


async def building_of_unit(conn: asyncpg.Connection, unit_id: str) -> str | None:
    return await conn.fetchval("SELECT building_id FROM units WHERE id = $1", unit_id)  # type: ignore[no-any-return]


async def upsert_member(conn: asyncpg.Connection, *, member_id: str, org_id: str, name: str, role: str) -> None:
    await conn.execute(
        "INSERT INTO members (id, org_id, name, role) VALUES ($1, $2, $3, $4) ON CONFLICT (id)"
        " DO UPDATE SET name = excluded.name, role = excluded.role, updated_at = now()",
        member_id, org_id, name, role)


async def delete_member(conn: asyncpg.Connection, member_id: str) -> None:
    await conn.execute("DELETE FROM members WHERE id = $1", member_id)


async def member_role(conn: asyncpg.Connection, member_id: str) -> str | None:
    return await conn.fetchval("SELECT role FROM members WHERE id = $1", member_id)  # type: ignore[no-any-return]
