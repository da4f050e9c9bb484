"""Buildings (time zone) and units (building) projected from property.events."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from hearth_contracts.envelope import Envelope
from hearth_contracts.property import BuildingDeleted, BuildingSnapshot, UnitDeleted, UnitSnapshot
from hearth_kit.db import Database
from hearth_kit.problems import Problem

from hearth_access import repository as repo

BUILDING_TYPES = frozenset({"hearth.building.created.v1", "hearth.building.updated.v1",
                            "hearth.building.status_changed.v1", "hearth.building.deleted.v1"})
UNIT_TYPES = frozenset({"hearth.unit.created.v1", "hearth.unit.updated.v1", "hearth.unit.status_changed.v1",
                        "hearth.unit.deleted.v1"})


async def project(conn: asyncpg.Connection, envelope: Envelope) -> None:
    """Apply one building or unit event to the projection."""
    if envelope.type == "hearth.building.deleted.v1":
        gone = envelope.data_as(BuildingDeleted)
        row = await repo.building(conn, gone.building_id)
        if row is not None:
            await repo.upsert_building(conn, building_id=gone.building_id, org_id=gone.org_id,
                                       timezone=row["timezone"], deleted=True)
    elif envelope.type in BUILDING_TYPES:
        b = envelope.data_as(BuildingSnapshot)
        await repo.upsert_building(conn, building_id=b.building_id, org_id=b.org_id, timezone=b.timezone)
    elif envelope.type == "hearth.unit.deleted.v1":
        await repo.mark_unit_deleted(conn, envelope.data_as(UnitDeleted).unit_id)
    elif envelope.type in UNIT_TYPES:
        u = envelope.data_as(UnitSnapshot)
        await repo.upsert_unit(conn, unit_id=u.unit_id, org_id=u.org_id, building_id=u.building_id)


async def _wait(db: Database, org_id: str, fetch: Any, wait: float) -> Any:
    """An id from another service may be a moment ahead of its event: look again for up to `wait` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        async with db.transaction(org_id=org_id) as conn:
            row = await fetch(conn)
        if row is not None or loop.time() >= deadline:
            return row
        await asyncio.sleep(0.1)


async def wait_for_building(db: Database, *, org_id: str, building_id: str, wait: float) -> asyncpg.Record:
    row = await _wait(db, org_id, lambda conn: repo.building(conn, building_id), wait)
    if row is None:
        raise Problem(422, f"building {building_id} is not known", slug="unknown-building",
                      errors=[{"field": "building_id", "message": "unknown building", "code": "unknown"}])
    return row  # type: ignore[no-any-return]


async def wait_for_unit(db: Database, *, org_id: str, unit_id: str, wait: float) -> asyncpg.Record:
    row = await _wait(db, org_id, lambda conn: repo.unit(conn, unit_id), wait)
    if row is None:
        raise Problem(422, f"unit {unit_id} is not known", slug="unknown-unit",
                      errors=[{"field": "unit_id", "message": "unknown unit", "code": "unknown"}])
    return row  # type: ignore[no-any-return]
