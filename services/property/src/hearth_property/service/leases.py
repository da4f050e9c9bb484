"""Lease use cases and the daily sweep that announces leases starting and ending by date."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
from hearth_contracts.property import (
    LeaseActivated,
    LeaseCreated,
    LeaseEnded,
    LeaseTerminated,
    UnitStatusChanged,
)
from hearth_kit.db import Database
from hearth_kit.errors import Conflict, InvalidInput, NotFound
from hearth_kit.ids import new_id
from hearth_kit.logging import get_logger
from hearth_kit.pagination import PageParams
from hearth_kit.resources import Resource, load
from hearth_kit.runtime import Runtime
from hearth_kit.tx import Tx

from hearth_property.config import Settings
from hearth_property.domain import (
    LeaseIn,
    TerminateIn,
    announcement_due,
    lease_span,
    lease_status,
    local_today,
)
from hearth_property.repository import buildings as building_repo
from hearth_property.repository import leases as repo
from hearth_property.repository import residents as resident_repo
from hearth_property.repository import units as unit_repo
from hearth_property.service.views import lease_snapshot, lease_view, status_of, unit_snapshot

log = get_logger(__name__)

LEASE = Resource(
    kind="lease", path="/v1/leases/{id}", view=lease_view,
    load=lambda tx, ident, lock: repo.get_lease(tx.conn, ident, for_update=lock),
)


async def _reload(tx: Tx, lease_id: str) -> asyncpg.Record:
    row = await repo.get_lease(tx.conn, lease_id)
    assert row is not None
    return row


async def _set_unit_status(tx: Tx, *, unit_id: str, status: str, only_from: str | None) -> None:
    unit = await unit_repo.get_unit(tx.conn, unit_id, for_update=True)
    if unit is None or unit["status"] == status or (only_from is not None and unit["status"] != only_from):
        return
    after = await unit_repo.set_status(tx.conn, unit_id, status)
    await tx.emit(UnitStatusChanged(**unit_snapshot(after), previous_status=unit["status"]), subject=unit_id)


async def _activate(tx: Tx, lease: asyncpg.Record, *, today: date) -> None:
    """The lease runs from today: its unit is rented; announce it."""
    await _set_unit_status(tx, unit_id=lease["unit_id"], status="rented", only_from=None)
    await repo.set_announced(tx.conn, lease["id"], "active")
    row = await _reload(tx, lease["id"])
    await tx.emit(LeaseActivated(**lease_snapshot(row, today=today)), subject=row["id"])


async def _end(tx: Tx, lease: asyncpg.Record, *, today: date) -> None:
    """The lease stopped running: a rented unit becomes available; announce it."""
    await _set_unit_status(tx, unit_id=lease["unit_id"], status="available", only_from="rented")
    await repo.set_announced(tx.conn, lease["id"], "ended")
    row = await _reload(tx, lease["id"])
    reason = "terminated" if status_of(row, today=today) == "terminated" else "expired"
    await tx.emit(LeaseEnded(**lease_snapshot(row, today=today), reason=reason), subject=row["id"])


async def _catch_up(tx: Tx, lease: asyncpg.Record, *, today: date) -> str | None:
    """Bring a lease's announced state in line with its dates; returns what was done."""
    status = status_of(lease, today=today)
    action = announcement_due(status, lease["announced"])  # type: ignore[arg-type]
    if action == "activate":
        await _activate(tx, lease, today=today)
    elif action == "end":
        await _end(tx, lease, today=today)
    elif action == "close":
        await repo.set_announced(tx.conn, lease["id"], "ended")
    return action


async def create_lease(tx: Tx, body: LeaseIn, *, today: date | None = None) -> dict[str, Any]:
    """Sign a lease on a free unit (409 on overlap); a lease starting today activates at once."""
    # The unit's row lock serialises lease writers per unit, so the overlap check cannot race.
    unit = await unit_repo.get_unit(tx.conn, body.unit_id, for_update=True)
    if unit is None:
        raise NotFound.of("unit", body.unit_id, field="unit_id")
    known = await resident_repo.existing_resident_ids(tx.conn, body.resident_ids)
    unknown = [r for r in body.resident_ids if r not in known]
    if unknown:
        raise NotFound(f"resident(s) not found: {', '.join(unknown)}", unknown_ids=unknown,
                       errors=[{"field": "resident_ids", "message": f"not found: {', '.join(unknown)}"}])
    building = await building_repo.get_building(tx.conn, unit["building_id"])
    assert building is not None
    start, until = lease_span(start=body.start_date, end=body.end_date, terminated_on=None)
    clash = await repo.overlapping_lease(tx.conn, unit_id=body.unit_id, start=start, until=until)
    if clash:
        raise Conflict(f"unit {body.unit_id} already has lease {clash} in that period", code="lease-overlap",
                       conflicting_lease_id=clash)
    today = today or local_today(building["timezone"])
    status = lease_status(start=body.start_date, end=body.end_date, terminated_on=None, today=today)
    lease_id = new_id("lease")
    await repo.insert_lease(tx.conn, {
        "id": lease_id, "org_id": tx.org_id, "unit_id": body.unit_id, "building_id": unit["building_id"],
        "type": body.type, "start_date": body.start_date, "end_date": body.end_date,
        "rent_amount": body.rent.amount, "rent_currency": body.rent.currency,
        "deposit_amount": body.deposit.amount, "deposit_currency": body.deposit.currency,
        "payment_due_day": body.payment_due_day,
        # a lease entered after it already ended never changes its unit
        "announced": "ended" if status == "past" else "none",
    }, body.resident_ids)
    row = await _reload(tx, lease_id)
    await tx.emit(LeaseCreated(**lease_snapshot(row, today=today)), subject=lease_id)
    if status == "active":
        await _activate(tx, row, today=today)
    return lease_view(await _reload(tx, lease_id), today=today)


async def terminate_lease(tx: Tx, lease_id: str, body: TerminateIn, *, today: date | None = None) -> dict[str, Any]:
    """Terminate a lease from `date` (default today); takes effect at once when that day has come."""
    lease = await load(tx, LEASE, lease_id, lock=True)
    today = today or local_today(lease["timezone"])
    status = status_of(lease, today=today)
    if lease["terminated_on"] is not None or status == "past":
        raise Conflict(f"lease {lease_id} is {status if status == 'past' else 'already terminated'}",
                       code="lease-not-running", status_now=status, allowed_from=["future", "active"])
    on = body.date or today
    last = lease["end_date"]
    if last is not None and on > last + timedelta(days=1):
        raise InvalidInput("termination date is after the lease's end",
                           errors=[{"field": "date", "message": f"must be on or before {last + timedelta(days=1)}"}])
    await unit_repo.get_unit(tx.conn, lease["unit_id"], for_update=True)
    await repo.terminate(tx.conn, lease_id, on=on, reason=body.reason)
    row = await _reload(tx, lease_id)
    await tx.emit(LeaseTerminated(**lease_snapshot(row, today=today)), subject=lease_id)
    await _catch_up(tx, row, today=today)
    return lease_view(await _reload(tx, lease_id), today=today)


async def list_leases(tx: Tx, *, page: PageParams, unit_id: str | None, resident_id: str | None,
                      status: str | None) -> tuple[list[dict[str, Any]], int]:
    """A page of leases, newest start first."""
    rows, total = await repo.list_leases(tx.conn, org_id=tx.org_id, unit_id=unit_id, resident_id=resident_id,
                                         status=status, limit=page.limit, offset=page.offset)
    return [lease_view(r) for r in rows], total


async def sweep_leases(db: Database, *, source: str = "hearth/property", today: date | None = None,
                       batch: int = 500) -> dict[str, int]:
    """Announce leases that started or ended by date since the last sweep (every org, one batch per txn).

    `today` overrides every building's local date (tests); by default each lease uses its building's zone.
    """
    done = {"activate": 0, "end": 0, "close": 0}
    horizon = (today or datetime.now(UTC).date()) + timedelta(days=1)
    while True:
        async with db.system_transaction() as conn:
            rows = await repo.sweep_candidates(conn, horizon=horizon, limit=batch)
            acted = 0
            for row in rows:
                tx = Tx(conn=conn, org_id=row["org_id"], source=source)
                action = await _catch_up(tx, row, today=today or local_today(row["timezone"]))
                if action:
                    done[action] += 1
                    acted += 1
        if len(rows) < batch or acted == 0:
            return done


async def lease_sweep_job(runtime: Runtime[Settings]) -> None:
    """Background job: sweep every `lease_sweep_seconds` (HEARTH_PROPERTY_LEASE_SWEEP_SECONDS)."""
    while True:
        result = await sweep_leases(runtime.db, source=runtime.source)
        if any(result.values()):
            log.info("lease sweep", **result)
        await asyncio.sleep(runtime.settings.lease_sweep_seconds)
