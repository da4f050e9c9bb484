"""Building use cases (each runs in the `Tx` the kit opened for it)."""

from __future__ import annotations

from typing import Any

from hearth_contracts.property import BuildingCreated, BuildingDeleted, BuildingStatusChanged, BuildingUpdated
from hearth_kit.errors import Conflict
from hearth_kit.ids import new_id
from hearth_kit.pagination import PageParams
from hearth_kit.resources import Resource, Row
from hearth_kit.tx import Tx

from hearth_property.domain import BuildingIn
from hearth_property.repository import buildings as repo
from hearth_property.repository import units as unit_repo
from hearth_property.service.views import building_snapshot, building_view

BUILDING = Resource(
    kind="building", path="/v1/buildings/{id}", view=building_view,
    load=lambda tx, ident, lock: repo.get_building(tx.conn, ident, for_update=lock),
    fields=("name", "type", "address", "timezone", "status"),
    save=lambda tx, ident, fields: repo.update_building(tx.conn, ident, fields),
    updated=lambda row: BuildingUpdated(**building_snapshot(row)),
    status_changed=lambda row, previous: BuildingStatusChanged(**building_snapshot(row), previous_status=previous),
)


async def create_building(tx: Tx, body: BuildingIn) -> dict[str, Any]:
    """Create a building and announce it."""
    row = await repo.insert_building(tx.conn, {
        "id": new_id("bld"), "org_id": tx.org_id, "name": body.name, "type": body.type,
        "address": body.address.model_dump(), "timezone": body.timezone, "status": body.status,
    })
    await tx.emit(BuildingCreated(**building_snapshot(row)), subject=row["id"])
    return building_view(row)


async def list_buildings(tx: Tx, *, page: PageParams, status: str | None, type_: str | None = None,
                         q: str | None = None) -> tuple[list[dict[str, Any]], int]:
    """A page of the caller's buildings."""
    rows, total = await repo.list_buildings(tx.conn, org_id=tx.org_id, status=status, type_=type_, q=q,
                                            limit=page.limit, offset=page.offset)
    return [building_view(r) for r in rows], total


async def remove_building(tx: Tx, row: Row) -> None:
    """Delete a building that has no units (409 otherwise) and announce it."""
    building_id = row["id"]
    units = await unit_repo.count_units_in_building(tx.conn, building_id)
    if units:
        raise Conflict(f"building {building_id} still has {units} unit(s); delete or move them first",
                       code="building-has-units", units=units)
    await repo.delete_building(tx.conn, building_id)
    await tx.emit(BuildingDeleted(building_id=building_id, org_id=tx.org_id), subject=building_id)
