"""SQL for units: single rows, the filtered list, bulk insert and bulk status."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, get_args

import asyncpg

from hearth_property.domain import Sort, Visibility, minor_units

UNIT_COLUMNS = (
    "u.id, u.org_id, u.building_id, u.name, u.unit_number, u.type, u.status, u.bedrooms, u.bathrooms,"
    " u.size_interior, u.size_land, u.size_unit, u.price_amount, u.price_currency, u.features, u.floor_plan,"
    " u.gallery, u.visibility, u.assigned_agent, u.created_at, u.updated_at"
)
_RETURNING = UNIT_COLUMNS.replace("u.", "")
WRITABLE = ("name", "unit_number", "type", "status", "bedrooms", "bathrooms", "size_interior", "size_land",
            "size_unit", "price_amount", "price_currency", "features", "floor_plan", "gallery", "visibility",
            "assigned_agent")
ALL_VISIBILITIES = frozenset(get_args(Visibility))
# A list counts at most this many rows exactly; past it, meta says the total is capped.
COUNT_CAP = 1_000


@dataclass
class UnitFilter:
    """The seed-003 filters of GET /v1/units, already validated."""

    org_id: str
    visibilities: list[str]
    building_id: str | None = None
    status: str | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    bedrooms: int | None = None
    min_size: Decimal | None = None
    visibility: str | None = None
    agent_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def where(self) -> tuple[str, list[Any]]:
        conds = ["u.org_id = $1"]
        args: list[Any] = [self.org_id]
        seen = sorted(set(self.visibilities))
        # A caller who may see every visibility needs no condition on it, so the capped count can be answered
        # from an index alone (no heap visit per row to read the visibility). A caller who sees only one
        # (a partner: public) gets an equality, not `= ANY(array)`: only an equality lets an index on
        # (org_id, visibility, <sort column>) hand rows out already sorted.
        if len(seen) == 1:
            args.append(seen[0])
            conds.append(f"u.visibility = ${len(args)}")
        elif not set(seen) >= ALL_VISIBILITIES:
            args.append(seen)
            conds.append(f"u.visibility = ANY(${len(args)}::text[])")
        for column, op, value in (
            ("u.building_id", "=", self.building_id), ("u.status", "=", self.status),
            ("u.price_minor", ">=", None if self.min_price is None else minor_units(self.min_price, round_up=True)),
            ("u.price_minor", "<=", None if self.max_price is None else minor_units(self.max_price, round_up=False)),
            ("u.bedrooms", "=", self.bedrooms),
            ("u.size_sqm_x100", ">=", None if self.min_size is None else minor_units(self.min_size, round_up=True)),
            ("u.visibility", "=", self.visibility), ("u.assigned_agent", "=", self.agent_id),
        ):
            if value is not None:
                args.append(value)
                conds.append(f"{column} {op} ${len(args)}")
        return " AND ".join(conds), args


async def list_units(
    conn: asyncpg.Connection, *, flt: UnitFilter, sort: Sort, limit: int, offset: int
) -> tuple[list[asyncpg.Record], int, bool]:
    """A page of units plus the (capped) total and whether the cap was hit."""
    where, args = flt.where()
    # Postgres' default null placement (last ascending, first descending) matches a backward index scan.
    direction = "DESC" if sort.descending else "ASC"
    n = len(args)
    rows = await conn.fetch(
        f"SELECT {UNIT_COLUMNS} FROM units u WHERE {where}"
        f" ORDER BY u.{sort.column} {direction}, u.id {direction} LIMIT ${n + 1} OFFSET ${n + 2}",
        *args, limit, offset,
    )
    total = await conn.fetchval(
        f"SELECT count(*) FROM (SELECT 1 FROM units u WHERE {where} LIMIT {COUNT_CAP + 1}) s", *args)
    capped = int(total) > COUNT_CAP
    return list(rows), min(int(total), COUNT_CAP), capped


async def get_unit(conn: asyncpg.Connection, unit_id: str, *, for_update: bool = False) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(f"SELECT {UNIT_COLUMNS} FROM units u WHERE u.id = $1{lock}", unit_id)


async def insert_units(conn: asyncpg.Connection, rows: list[dict[str, Any]]) -> list[asyncpg.Record]:
    """Insert many units in one statement (arrays unnested server-side)."""
    cols = ("id", "org_id", "building_id", *WRITABLE)
    types = {"bedrooms": "int", "bathrooms": "numeric", "size_interior": "numeric", "size_land": "numeric",
             "price_amount": "numeric"}
    # text[] columns cannot be unnested from a 2-D array of ragged rows, so they travel as JSON arrays.
    json_cols = {"features", "gallery"}
    selects = [f"ARRAY(SELECT jsonb_array_elements_text(t.{c}::jsonb))" if c in json_cols else f"t.{c}" for c in cols]
    unnest_types = ", ".join(f"${i}::{types.get(c, 'text')}[]"
                             for i, c in enumerate(cols, start=1))
    args = [[json.dumps(r[c]) if c in json_cols else r[c] for r in rows] for c in cols]
    return list(await conn.fetch(
        f"INSERT INTO units ({', '.join(cols)}) SELECT {', '.join(selects)}"
        f" FROM unnest({unnest_types}) AS t({', '.join(cols)}) ORDER BY t.id RETURNING {_RETURNING}",
        *args,
    ))


async def replace_unit(conn: asyncpg.Connection, unit_id: str, fields: dict[str, Any]) -> asyncpg.Record:
    sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(WRITABLE, start=2))
    out = await conn.fetchrow(
        f"UPDATE units SET {sets}, updated_at = now() WHERE id = $1 RETURNING {_RETURNING}",
        unit_id, *[fields[c] for c in WRITABLE],
    )
    assert out is not None
    return out


async def set_status(conn: asyncpg.Connection, unit_id: str, status: str) -> asyncpg.Record:
    out = await conn.fetchrow(
        f"UPDATE units SET status = $2, updated_at = now() WHERE id = $1 RETURNING {_RETURNING}", unit_id, status)
    assert out is not None
    return out


async def lock_units(conn: asyncpg.Connection, ids: list[str], *, visibilities: list[str]) -> list[asyncpg.Record]:
    return list(await conn.fetch(
        f"SELECT {UNIT_COLUMNS} FROM units u WHERE u.id = ANY($1::text[]) AND u.visibility = ANY($2::text[])"
        " ORDER BY u.id FOR UPDATE", ids, visibilities))


async def bulk_set_status(conn: asyncpg.Connection, ids: list[str], status: str) -> list[asyncpg.Record]:
    return list(await conn.fetch(
        f"UPDATE units SET status = $2, updated_at = now() WHERE id = ANY($1::text[]) AND status <> $2"
        f" RETURNING {_RETURNING}", ids, status))


async def delete_unit(conn: asyncpg.Connection, unit_id: str) -> None:
    await conn.execute("DELETE FROM units WHERE id = $1", unit_id)


async def count_units_in_building(conn: asyncpg.Connection, building_id: str) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM units WHERE building_id = $1", building_id))


async def unit_has_leases(conn: asyncpg.Connection, unit_id: str) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM leases WHERE unit_id = $1)", unit_id))


async def taken_numbers(conn: asyncpg.Connection, pairs: list[tuple[str, str]],
                        *, exclude_id: str | None = None) -> set[tuple[str, str]]:
    """Which (building_id, unit_number) pairs already exist (ignoring one unit being replaced)."""
    if not pairs:
        return set()
    rows = await conn.fetch(
        "SELECT u.building_id, u.unit_number FROM units u"
        " JOIN unnest($1::text[], $2::text[]) AS p(b, n) ON u.building_id = p.b AND u.unit_number = p.n"
        " WHERE ($3::text IS NULL OR u.id <> $3)",
        [p[0] for p in pairs], [p[1] for p in pairs], exclude_id)
    return {(r["building_id"], r["unit_number"]) for r in rows}
