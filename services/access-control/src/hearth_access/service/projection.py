"""Buildings (time zone) and units (building) projected from property.events."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
from hearth_contracts.property import (
    BuildingCreated,
    BuildingDeleted,
    BuildingStatusChanged,
    BuildingUpdated,
    UnitCreated,
    UnitDeleted,
    UnitStatusChanged,
    UnitUpdated,
)
from hearth_kit.errors import InvalidInput
from hearth_kit.subscriptions import On, on
from hearth_kit.tx import Tx

from hearth_access import repository as repo


async def project_building(tx: Tx, b: BuildingCreated | BuildingUpdated | BuildingStatusChanged) -> None:
    await repo.upsert_building(tx.conn, building_id=b.building_id, org_id=b.org_id, timezone=b.timezone)


async def building_deleted(tx: Tx, gone: BuildingDeleted) -> None:
    row = await repo.building(tx.conn, gone.building_id)
    if row is not None:
        await repo.upsert_building(tx.conn, building_id=gone.building_id, org_id=gone.org_id,
                                   timezone=row["timezone"], deleted=True)


async def project_unit(tx: Tx, u: UnitCreated | UnitUpdated | UnitStatusChanged) -> None:
    await repo.upsert_unit(tx.conn, unit_id=u.unit_id, org_id=u.org_id, building_id=u.building_id)


async def unit_deleted(tx: Tx, gone: UnitDeleted) -> None:
    await repo.mark_unit_deleted(tx.conn, gone.unit_id)


# Buildings (time zone) and units (their building), from property.events
HANDLERS: list[On[Any]] = [
    on(BuildingCreated, project_building), on(BuildingUpdated, project_building),
    on(BuildingStatusChanged, project_building), on(BuildingDeleted, building_deleted),
    on(UnitCreated, project_unit), on(UnitUpdated, project_unit), on(UnitStatusChanged, project_unit),
    on(UnitDeleted, unit_deleted),
]


async def _wait(read: Any, fetch: Any, wait: float) -> Any:
    """An id from another service may be a moment ahead of its event: look again for up to `wait` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        row = await read(lambda tx: fetch(tx.conn))
        if row is not None or loop.time() >= deadline:
            return row
        await asyncio.sleep(0.1)


async def wait_for_building(read: Any, *, building_id: str, wait: float) -> asyncpg.Record:
    """The projected building (422 `unknown-building` when it does not come within `wait` seconds);
    `read` runs one step in its own transaction (`Call.read`)."""
    row = await _wait(read, lambda conn: repo.building(conn, building_id), wait)
    if row is None:
        raise InvalidInput(f"building {building_id} is not known", code="unknown-building",
                           errors=[{"field": "building_id", "message": "unknown building", "code": "unknown"}])
    return row  # type: ignore[no-any-return]


async def wait_for_unit(read: Any, *, unit_id: str, wait: float) -> asyncpg.Record:
    """The projected unit (422 `unknown-unit` when it does not come within `wait` seconds)."""
    row = await _wait(read, lambda conn: repo.unit(conn, unit_id), wait)
    if row is None:
        raise InvalidInput(f"unit {unit_id} is not known", code="unknown-unit",
                           errors=[{"field": "unit_id", "message": "unknown unit", "code": "unknown"}])
    return row  # type: ignore[no-any-return]
