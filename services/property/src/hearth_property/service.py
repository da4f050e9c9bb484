"""Property use cases: each is one transaction that writes its rows and its outbox events together."""

from __future__ import annotations

from typing import Any

import asyncpg

from hearth_contracts.property import BuildingCreated
from hearth_kit import outbox
from hearth_kit.auth import Principal
from hearth_kit.db import Database
from hearth_kit.ids import new_id
from hearth_kit.pagination import PageParams
from hearth_kit.problems import not_found
from hearth_property import repository
from hearth_property.domain import BuildingIn, occupancy

SOURCE = "hearth/property"


def building_view(row: asyncpg.Record) -> dict[str, Any]:
    """The API shape of a building (seed 000 + 002 fields)."""
    units, occupied = int(row["units"]), int(row["occupied_units"])
    return {
        "id": row["id"],
        "name": row["name"],
        "type": row["type"],
        "address": row["address"],
        "timezone": row["timezone"],
        "status": row["status"],
        "units": units,
        "occupied_units": occupied,
        "occupancy": occupancy(units, occupied),
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }


def _snapshot(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "building_id": row["id"], "org_id": row["org_id"], "name": row["name"], "type": row["type"],
        "address": row["address"], "timezone": row["timezone"], "status": row["status"],
        "created_at": row["created_at"], "updated_at": row["updated_at"],
    }


async def create_building(
    conn: asyncpg.Connection, *, principal: Principal, body: BuildingIn, traceparent: str | None = None
) -> dict[str, Any]:
    """Create a building and announce it."""
    row = await repository.insert_building(conn, {
        "id": new_id("bld"), "org_id": principal.org_id, "name": body.name, "type": body.type,
        "address": body.address.model_dump(), "timezone": body.timezone, "status": body.status,
    })
    await outbox.append(conn, source=SOURCE, data=BuildingCreated(**_snapshot(row)), subject=row["id"],
                        org_id=principal.org_id, traceparent=traceparent)
    return building_view(row)


async def get_building(db: Database, *, principal: Principal, building_id: str) -> dict[str, Any]:
    """One building of the caller's org, or 404."""
    async with db.transaction(org_id=principal.org_id) as conn:
        row = await repository.get_building(conn, building_id)
    if row is None:
        raise not_found("building", building_id)
    return building_view(row)


async def list_buildings(
    db: Database, *, principal: Principal, page: PageParams, status: str | None
) -> tuple[list[dict[str, Any]], int]:
    """A page of the caller's buildings."""
    async with db.transaction(org_id=principal.org_id) as conn:
        rows, total = await repository.list_buildings(conn, status=status, limit=page.limit, offset=page.offset)
    return [building_view(r) for r in rows], total
