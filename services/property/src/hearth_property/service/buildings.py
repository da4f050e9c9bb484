"""Building use cases."""

from __future__ import annotations

from typing import Any

import asyncpg
from hearth_contracts.property import BuildingCreated, BuildingDeleted, BuildingStatusChanged, BuildingUpdated
from hearth_kit import outbox
from hearth_kit.auth import Principal
from hearth_kit.db import Database
from hearth_kit.ids import new_id
from hearth_kit.pagination import PageParams
from hearth_kit.problems import Problem, not_found

from hearth_property.domain import BuildingIn, BuildingPatch
from hearth_property.repository import buildings as repo
from hearth_property.repository import units as unit_repo
from hearth_property.service.views import building_snapshot, building_view

SOURCE = "hearth/property"


async def create_building(
    conn: asyncpg.Connection, *, principal: Principal, body: BuildingIn, traceparent: str | None = None
) -> dict[str, Any]:
    """Create a building and announce it."""
    row = await repo.insert_building(conn, {
        "id": new_id("bld"), "org_id": principal.org_id, "name": body.name, "type": body.type,
        "address": body.address.model_dump(), "timezone": body.timezone, "status": body.status,
    })
    await outbox.append(conn, source=SOURCE, data=BuildingCreated(**building_snapshot(row)), subject=row["id"],
                        org_id=principal.org_id, traceparent=traceparent)
    return building_view(row)


async def get_building(db: Database, *, principal: Principal, building_id: str) -> dict[str, Any]:
    """One building of the caller's org, or 404."""
    async with db.transaction(org_id=principal.org_id) as conn:
        row = await repo.get_building(conn, building_id)
    if row is None:
        raise not_found("building", building_id)
    return building_view(row)


async def list_buildings(
    db: Database, *, principal: Principal, page: PageParams, status: str | None, type_: str | None = None,
    q: str | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """A page of the caller's buildings."""
    async with db.transaction(org_id=principal.org_id) as conn:
        rows, total = await repo.list_buildings(conn, org_id=principal.org_id, status=status, type_=type_, q=q,
                                                limit=page.limit, offset=page.offset)
    return [building_view(r) for r in rows], total


async def update_building(
    db: Database, *, principal: Principal, building_id: str, body: BuildingIn | BuildingPatch,
    traceparent: str | None = None,
) -> dict[str, Any]:
    """Replace (BuildingIn) or patch (BuildingPatch) a building; announce updated and/or status_changed."""
    principal.require_write()
    async with db.transaction(org_id=principal.org_id) as conn:
        before = await repo.get_building(conn, building_id, for_update=True)
        if before is None:
            raise not_found("building", building_id)
        fields = {k: before[k] for k in ("name", "type", "address", "timezone", "status")}
        sent = body.model_fields_set if isinstance(body, BuildingPatch) else set(fields)
        for name in sent:
            value = getattr(body, name)
            fields[name] = value.model_dump() if name == "address" else value
        after = await repo.update_building(conn, building_id, fields)
        detail_changed = any(fields[k] != before[k] for k in ("name", "type", "address", "timezone"))
        if detail_changed:
            await outbox.append(conn, source=SOURCE, data=BuildingUpdated(**building_snapshot(after)),
                                subject=building_id, org_id=principal.org_id, traceparent=traceparent)
        if after["status"] != before["status"]:
            await outbox.append(
                conn, source=SOURCE,
                data=BuildingStatusChanged(**building_snapshot(after), previous_status=before["status"]),
                subject=building_id, org_id=principal.org_id, traceparent=traceparent)
    return building_view(after)


async def delete_building(db: Database, *, principal: Principal, building_id: str,
                          traceparent: str | None = None) -> None:
    """Delete a building that has no units (409 otherwise)."""
    principal.require_write()
    async with db.transaction(org_id=principal.org_id) as conn:
        row = await repo.get_building(conn, building_id, for_update=True)
        if row is None:
            raise not_found("building", building_id)
        units = await unit_repo.count_units_in_building(conn, building_id)
        if units:
            raise Problem(409, f"building {building_id} still has {units} unit(s); delete or move them first",
                          slug="building-has-units", units=units)
        await repo.delete_building(conn, building_id)
        await outbox.append(conn, source=SOURCE, data=BuildingDeleted(building_id=building_id,
                                                                      org_id=principal.org_id),
                            subject=building_id, org_id=principal.org_id, traceparent=traceparent)
