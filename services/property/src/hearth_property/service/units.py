"""Unit use cases: CRUD, the filtered list, bulk create, bulk status."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
from hearth_contracts.envelope import EventData
from hearth_contracts.property import UnitCreated, UnitDeleted, UnitStatusChanged, UnitUpdated
from hearth_kit.errors import Conflict, InvalidInput, NotFound
from hearth_kit.ids import new_id
from hearth_kit.pagination import PageParams
from hearth_kit.resources import Resource, Row, load
from hearth_kit.tx import Tx
from pydantic import BaseModel, ValidationError

from hearth_property.domain import (
    MAX_BULK_CREATE,
    BulkStatusIn,
    Sort,
    UnitFields,
    UnitIn,
    UnitPatch,
    UnitReplace,
    visible_for,
)
from hearth_property.repository import agents as agent_repo
from hearth_property.repository import buildings as building_repo
from hearth_property.repository import units as repo
from hearth_property.repository.units import UnitFilter
from hearth_property.service.views import agent_view, building_view, unit_snapshot, unit_view


def _fields(body: UnitFields) -> dict[str, Any]:
    size = body.size
    return {
        "name": body.name, "unit_number": body.unit_number, "type": body.type, "status": body.status,
        "bedrooms": body.bedrooms, "bathrooms": body.bathrooms,
        "size_interior": size.interior if size else None, "size_land": size.land if size else None,
        "size_unit": size.unit if size else "sqm",
        "price_amount": body.price.amount, "price_currency": body.price.currency,
        "features": body.features, "floor_plan": body.floor_plan, "gallery": body.gallery,
        "visibility": body.visibility, "assigned_agent": body.assigned_agent,
    }


def _patched(before: Row, body: UnitPatch) -> dict[str, Any]:
    fields = {c: before[c] for c in repo.WRITABLE}
    fields["features"], fields["gallery"] = list(before["features"]), list(before["gallery"])
    for name in body.model_fields_set:
        value = getattr(body, name)
        if name == "size":
            fields["size_interior"] = value.interior if value else None
            fields["size_land"] = value.land if value else None
            fields["size_unit"] = value.unit if value else "sqm"
        elif name == "price":
            fields["price_amount"], fields["price_currency"] = value.amount, value.currency
        else:
            fields[name] = value
    return fields


def _number_taken(building_id: str, number: str) -> Conflict:
    return Conflict(f"unit_number '{number}' is already used in building {building_id}",
                    code="unit-number-taken", errors=[{"field": "unit_number", "message": "already used"}])


async def _check_agent(tx: Tx, agent_id: str | None) -> None:
    if agent_id is not None and await agent_repo.get_agent(tx.conn, agent_id) is None:
        raise NotFound.of("agent", agent_id, field="assigned_agent")


async def _visible_unit(tx: Tx, unit_id: str, lock: bool) -> asyncpg.Record | None:
    """A unit the caller's role may see (others are as good as missing)."""
    row = await repo.get_unit(tx.conn, unit_id, for_update=lock)
    if row is None or (tx.principal is not None and row["visibility"] not in visible_for(tx.principal.role)):
        return None
    return row


async def _apply(tx: Tx, before: Row, body: BaseModel, partial: bool) -> dict[str, Any]:
    """PUT (every field) or PATCH (the fields sent) → the unit's columns; its building never changes."""
    if isinstance(body, UnitReplace):
        for given in (body.building_id, body.property_id):
            if given is not None and given != before["building_id"]:
                raise InvalidInput("a unit cannot move to another building",
                                   errors=[{"field": "building_id", "message": "cannot change"}])
        fields = _fields(body)
    else:
        assert isinstance(body, UnitPatch)
        fields = _patched(before, body)
    if fields["assigned_agent"] != before["assigned_agent"]:
        await _check_agent(tx, fields["assigned_agent"])
    number = fields["unit_number"]
    if number and number != before["unit_number"] and await repo.taken_numbers(
            tx.conn, [(before["building_id"], number)], exclude_id=before["id"]):
        raise _number_taken(before["building_id"], number)
    return fields


UNIT = Resource(
    kind="unit", path="/v1/units/{id}", view=unit_view, load=_visible_unit,
    fields=repo.WRITABLE, apply=_apply,
    save=lambda tx, ident, fields: repo.replace_unit(tx.conn, ident, fields),
    updated=lambda row: UnitUpdated(**unit_snapshot(row)),
    status_changed=lambda row, previous: UnitStatusChanged(**unit_snapshot(row), previous_status=previous),
)


async def create_unit(tx: Tx, body: UnitIn) -> dict[str, Any]:
    """Create one unit in a building of the caller's org."""
    if await building_repo.get_building(tx.conn, body.building_id) is None:
        raise NotFound.of("building", body.building_id, field="building_id")
    await _check_agent(tx, body.assigned_agent)
    if body.unit_number and await repo.taken_numbers(tx.conn, [(body.building_id, body.unit_number)]):
        raise _number_taken(body.building_id, body.unit_number)
    row = {"id": new_id("unit"), "org_id": tx.org_id, "building_id": body.building_id, **_fields(body)}
    try:
        [created] = await repo.insert_units(tx.conn, [row])
    except asyncpg.UniqueViolationError as exc:  # a concurrent insert won the number
        raise _number_taken(body.building_id, body.unit_number or "") from exc
    await tx.emit(UnitCreated(**unit_snapshot(created)), subject=created["id"])
    return unit_view(created)


def validate_bulk(items: Sequence[Any]) -> list[UnitIn]:
    """Validate every item; one 422 listing each bad item's index, field and message."""
    if not 1 <= len(items) <= MAX_BULK_CREATE:
        raise InvalidInput(f"units must hold 1..{MAX_BULK_CREATE} items",
                           errors=[{"field": "units", "message": f"1..{MAX_BULK_CREATE} items, got {len(items)}"}])
    good: list[UnitIn] = []
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            good.append(UnitIn.model_validate(item))
        except ValidationError as exc:
            for err in exc.errors():
                entry: dict[str, Any] = {"index": index, "field": ".".join(str(p) for p in err["loc"]) or "item",
                                         "message": err["msg"], "code": err["type"]}
                expected = (err.get("ctx") or {}).get("expected")
                if expected:
                    entry["allowed"] = [s.strip().strip("'") for s in str(expected).replace(" or ", ",").split(",")]
                errors.append(entry)
    if errors:
        raise InvalidInput(f"{len({e['index'] for e in errors})} unit(s) are invalid; nothing was created",
                           errors=errors)
    return good


async def bulk_create(tx: Tx, items: Sequence[Any]) -> list[dict[str, Any]]:
    """Create up to 500 units, all or nothing; errors name each bad item's index."""
    bodies = validate_bulk(items)
    conn = tx.conn
    buildings = await building_repo.existing_building_ids(conn, sorted({b.building_id for b in bodies}))
    agent_ids = sorted({b.assigned_agent for b in bodies if b.assigned_agent})
    agents = await agent_repo.existing_agent_ids(conn, agent_ids) if agent_ids else set()
    errors: list[dict[str, Any]] = []
    for i, b in enumerate(bodies):
        if b.building_id not in buildings:
            errors.append({"index": i, "field": "building_id", "message": f"building {b.building_id} not found"})
        if b.assigned_agent and b.assigned_agent not in agents:
            errors.append({"index": i, "field": "assigned_agent", "message": f"agent {b.assigned_agent} not found"})
    if errors:
        raise InvalidInput("some units reference unknown records; nothing was created", errors=errors)
    pairs = [(b.building_id, b.unit_number) for b in bodies if b.unit_number]
    taken = await repo.taken_numbers(conn, pairs)
    seen: set[tuple[str, str]] = set()
    for i, b in enumerate(bodies):
        if not b.unit_number:
            continue
        key = (b.building_id, b.unit_number)
        if key in taken:
            errors.append({"index": i, "field": "unit_number", "message": f"'{b.unit_number}' already exists"})
        elif key in seen:
            errors.append({"index": i, "field": "unit_number", "message": f"'{b.unit_number}' repeated in batch"})
        seen.add(key)
    if errors:
        raise Conflict("unit numbers clash; nothing was created", code="unit-number-taken", errors=errors)
    rows = [{"id": new_id("unit"), "org_id": tx.org_id, "building_id": b.building_id, **_fields(b)}
            for b in bodies]
    try:
        created = await repo.insert_units(conn, rows)
    except asyncpg.UniqueViolationError as exc:
        raise Conflict("unit numbers clash with a concurrent insert; nothing was created",
                       code="unit-number-taken") from exc
    by_id = {r["id"]: r for r in created}
    ordered = [by_id[r["id"]] for r in rows]
    await tx.emit_many([(UnitCreated(**unit_snapshot(r)), r["id"]) for r in ordered])
    return [unit_view(r) for r in ordered]


async def bulk_status(tx: Tx, body: BulkStatusIn) -> dict[str, Any]:
    """Set one status on up to 1,000 units, all or nothing; unknown ids are a 404 listing them."""
    ids = list(dict.fromkeys(body.unit_ids))
    found = await repo.lock_units(tx.conn, ids, visibilities=visible_for(tx.caller.role))
    known = {r["id"] for r in found}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise NotFound(f"{len(unknown)} unit id(s) not found; nothing was changed", unknown_ids=unknown)
    before = {r["id"]: r["status"] for r in found}
    changed = await repo.bulk_set_status(tx.conn, ids, body.status)
    events: list[tuple[EventData, str]] = [
        (UnitStatusChanged(**unit_snapshot(r), previous_status=before[r["id"]]), r["id"]) for r in changed]
    await tx.emit_many(events)
    return {"updated": len(changed), "unchanged": len(ids) - len(changed), "status": body.status, "unit_ids": ids}


async def get_unit(tx: Tx, unit_id: str, *, expand: frozenset[str] = frozenset()) -> dict[str, Any]:
    """One unit the caller may see, optionally with its building and agent."""
    row = await load(tx, UNIT, unit_id)
    view = unit_view(row)
    if "building" in expand:
        building = await building_repo.get_building(tx.conn, row["building_id"])
        view["building"] = building_view(building) if building else None
    if "agent" in expand:
        agent = await agent_repo.get_agent(tx.conn, row["assigned_agent"]) if row["assigned_agent"] else None
        view["agent"] = agent_view(agent) if agent else None
    return view


async def list_units(tx: Tx, *, flt: UnitFilter, sort: Sort, page: PageParams,
                     building_in_path: bool = False) -> tuple[list[dict[str, Any]], int, bool]:
    """A page of the units the caller may see (an unknown building in the path is a 404)."""
    if building_in_path and flt.building_id is not None \
            and await building_repo.get_building(tx.conn, flt.building_id) is None:
        raise NotFound.of("building", flt.building_id)
    rows, total, capped = await repo.list_units(tx.conn, flt=flt, sort=sort, limit=page.limit, offset=page.offset)
    return [unit_view(r) for r in rows], total, capped


async def remove_unit(tx: Tx, row: Row) -> None:
    """Delete a unit that never had a lease (409 otherwise: its history must stay) and announce it."""
    unit_id = row["id"]
    if await repo.unit_has_leases(tx.conn, unit_id):
        raise Conflict(f"unit {unit_id} has leases; it cannot be deleted", code="unit-has-leases")
    await repo.delete_unit(tx.conn, unit_id)
    await tx.emit(UnitDeleted(unit_id=unit_id, org_id=tx.org_id, building_id=row["building_id"]), subject=unit_id)
