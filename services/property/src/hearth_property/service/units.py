"""Unit use cases: CRUD, the filtered list, bulk create, bulk status."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
from hearth_contracts.envelope import EventData
from hearth_contracts.property import UnitCreated, UnitDeleted, UnitStatusChanged, UnitUpdated
from hearth_kit import outbox
from hearth_kit.auth import Principal
from hearth_kit.db import Database
from hearth_kit.ids import new_id
from hearth_kit.outbox import append_many
from hearth_kit.pagination import PageParams
from hearth_kit.problems import Problem, not_found
from pydantic import ValidationError

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

SOURCE = "hearth/property"


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


def _patched(before: asyncpg.Record, body: UnitPatch) -> dict[str, Any]:
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


def _unknown(field: str, kind: str, ident: str) -> Problem:
    return Problem(404, f"{kind} {ident} not found", slug="not-found",
                   errors=[{"field": field, "message": f"{kind} {ident} not found"}])


def _number_taken(building_id: str, number: str) -> Problem:
    return Problem(409, f"unit_number '{number}' is already used in building {building_id}",
                   slug="unit-number-taken", errors=[{"field": "unit_number", "message": "already used"}])


async def _check_agent(conn: asyncpg.Connection, agent_id: str | None) -> None:
    if agent_id is not None and await agent_repo.get_agent(conn, agent_id) is None:
        raise _unknown("assigned_agent", "agent", agent_id)


async def _visible_unit(conn: asyncpg.Connection, principal: Principal, unit_id: str,
                        *, for_update: bool = False) -> asyncpg.Record:
    row = await repo.get_unit(conn, unit_id, for_update=for_update)
    if row is None or row["visibility"] not in visible_for(principal.role):
        raise not_found("unit", unit_id)
    return row


async def _announce_change(conn: asyncpg.Connection, *, before: asyncpg.Record, after: asyncpg.Record,
                           org_id: str, traceparent: str | None) -> None:
    """updated when details changed, status_changed when the status did (both when both)."""
    details = [c for c in repo.WRITABLE if c != "status"]
    if any(_norm(before[c]) != _norm(after[c]) for c in details):
        await outbox.append(conn, source=SOURCE, data=UnitUpdated(**unit_snapshot(after)), subject=after["id"],
                            org_id=org_id, traceparent=traceparent)
    if before["status"] != after["status"]:
        await outbox.append(conn, source=SOURCE,
                            data=UnitStatusChanged(**unit_snapshot(after), previous_status=before["status"]),
                            subject=after["id"], org_id=org_id, traceparent=traceparent)


def _norm(value: Any) -> Any:
    return list(value) if isinstance(value, list | tuple) else value


async def create_unit(conn: asyncpg.Connection, *, principal: Principal, body: UnitIn,
                      traceparent: str | None = None) -> dict[str, Any]:
    """Create one unit in a building of the caller's org."""
    if await building_repo.get_building(conn, body.building_id) is None:
        raise _unknown("building_id", "building", body.building_id)
    await _check_agent(conn, body.assigned_agent)
    if body.unit_number and await repo.taken_numbers(conn, [(body.building_id, body.unit_number)]):
        raise _number_taken(body.building_id, body.unit_number)
    row = {"id": new_id("unit"), "org_id": principal.org_id, "building_id": body.building_id, **_fields(body)}
    try:
        [created] = await repo.insert_units(conn, [row])
    except asyncpg.UniqueViolationError as exc:  # a concurrent insert won the number
        raise _number_taken(body.building_id, body.unit_number or "") from exc
    await outbox.append(conn, source=SOURCE, data=UnitCreated(**unit_snapshot(created)), subject=created["id"],
                        org_id=principal.org_id, traceparent=traceparent)
    return unit_view(created)


def validate_bulk(items: Sequence[Any]) -> list[UnitIn]:
    """Validate every item; one 422 listing each bad item's index, field and message."""
    if not 1 <= len(items) <= MAX_BULK_CREATE:
        raise Problem(422, f"units must hold 1..{MAX_BULK_CREATE} items", slug="validation-error",
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
        raise Problem(422, f"{len({e['index'] for e in errors})} unit(s) are invalid; nothing was created",
                      slug="validation-error", errors=errors)
    return good


async def bulk_create(conn: asyncpg.Connection, *, principal: Principal, items: Sequence[Any],
                      traceparent: str | None = None) -> list[dict[str, Any]]:
    """Create up to 500 units, all or nothing; errors name each bad item's index."""
    bodies = validate_bulk(items)
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
        raise Problem(422, "some units reference unknown records; nothing was created", slug="validation-error",
                      errors=errors)
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
        raise Problem(409, "unit numbers clash; nothing was created", slug="unit-number-taken", errors=errors)
    rows = [{"id": new_id("unit"), "org_id": principal.org_id, "building_id": b.building_id, **_fields(b)}
            for b in bodies]
    try:
        created = await repo.insert_units(conn, rows)
    except asyncpg.UniqueViolationError as exc:
        raise Problem(409, "unit numbers clash with a concurrent insert; nothing was created",
                      slug="unit-number-taken") from exc
    by_id = {r["id"]: r for r in created}
    ordered = [by_id[r["id"]] for r in rows]
    await append_many(conn, source=SOURCE, org_id=principal.org_id, traceparent=traceparent,
                      events=[(UnitCreated(**unit_snapshot(r)), r["id"]) for r in ordered])
    return [unit_view(r) for r in ordered]


async def bulk_status(db: Database, *, principal: Principal, body: BulkStatusIn,
                      traceparent: str | None = None) -> dict[str, Any]:
    """Set one status on up to 1,000 units, all or nothing; unknown ids are a 404 listing them."""
    principal.require_write()
    ids = list(dict.fromkeys(body.unit_ids))
    async with db.transaction(org_id=principal.org_id) as conn:
        found = await repo.lock_units(conn, ids, visibilities=visible_for(principal.role))
        known = {r["id"] for r in found}
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise Problem(404, f"{len(unknown)} unit id(s) not found; nothing was changed", slug="not-found",
                          unknown_ids=unknown)
        before = {r["id"]: r["status"] for r in found}
        changed = await repo.bulk_set_status(conn, ids, body.status)
        events: list[tuple[EventData, str]] = [
            (UnitStatusChanged(**unit_snapshot(r), previous_status=before[r["id"]]), r["id"]) for r in changed]
        await append_many(conn, source=SOURCE, org_id=principal.org_id, traceparent=traceparent, events=events)
    return {"updated": len(changed), "unchanged": len(ids) - len(changed), "status": body.status,
            "unit_ids": ids}


async def get_unit(db: Database, *, principal: Principal, unit_id: str,
                   expand: frozenset[str] = frozenset()) -> dict[str, Any]:
    """One unit the caller may see, optionally with its building and agent."""
    async with db.transaction(org_id=principal.org_id) as conn:
        row = await _visible_unit(conn, principal, unit_id)
        view = unit_view(row)
        if "building" in expand:
            building = await building_repo.get_building(conn, row["building_id"])
            view["building"] = building_view(building) if building else None
        if "agent" in expand:
            agent = await agent_repo.get_agent(conn, row["assigned_agent"]) if row["assigned_agent"] else None
            view["agent"] = agent_view(agent) if agent else None
    return view


async def list_units(db: Database, *, principal: Principal, flt: UnitFilter, sort: Sort,
                     page: PageParams) -> tuple[list[dict[str, Any]], int, bool]:
    """A page of the units the caller may see."""
    async with db.transaction(org_id=principal.org_id) as conn:
        if flt.building_id is not None and await building_repo.get_building(conn, flt.building_id) is None \
                and flt.extra.get("building_in_path"):
            raise not_found("building", flt.building_id)
        rows, total, capped = await repo.list_units(conn, flt=flt, sort=sort, limit=page.limit, offset=page.offset)
    return [unit_view(r) for r in rows], total, capped


async def update_unit(db: Database, *, principal: Principal, unit_id: str, body: UnitReplace | UnitPatch,
                      traceparent: str | None = None) -> dict[str, Any]:
    """PUT (every field) or PATCH (fields sent) a unit; its building never changes."""
    principal.require_write()
    async with db.transaction(org_id=principal.org_id) as conn:
        before = await _visible_unit(conn, principal, unit_id, for_update=True)
        if isinstance(body, UnitReplace):
            for given in (body.building_id, body.property_id):
                if given is not None and given != before["building_id"]:
                    raise Problem(422, "a unit cannot move to another building", slug="validation-error",
                                  errors=[{"field": "building_id", "message": "cannot change"}])
            fields = _fields(body)
        else:
            fields = _patched(before, body)
        if fields["assigned_agent"] != before["assigned_agent"]:
            await _check_agent(conn, fields["assigned_agent"])
        number = fields["unit_number"]
        if number and number != before["unit_number"] and await repo.taken_numbers(
                conn, [(before["building_id"], number)], exclude_id=unit_id):
            raise _number_taken(before["building_id"], number)
        after = await repo.replace_unit(conn, unit_id, fields)
        await _announce_change(conn, before=before, after=after, org_id=principal.org_id, traceparent=traceparent)
    return unit_view(after)


async def delete_unit(db: Database, *, principal: Principal, unit_id: str, traceparent: str | None = None) -> None:
    """Delete a unit that never had a lease (409 otherwise: its history must stay)."""
    principal.require_write()
    async with db.transaction(org_id=principal.org_id) as conn:
        row = await _visible_unit(conn, principal, unit_id, for_update=True)
        if await repo.unit_has_leases(conn, unit_id):
            raise Problem(409, f"unit {unit_id} has leases; it cannot be deleted", slug="unit-has-leases")
        await repo.delete_unit(conn, unit_id)
        await outbox.append(conn, source=SOURCE, subject=unit_id, org_id=principal.org_id, traceparent=traceparent,
                            data=UnitDeleted(unit_id=unit_id, org_id=principal.org_id,
                                             building_id=row["building_id"]))
