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
from hearth_kit import outbox
from hearth_kit.auth import Principal
from hearth_kit.db import Database
from hearth_kit.ids import new_id
from hearth_kit.logging import get_logger
from hearth_kit.pagination import PageParams
from hearth_kit.problems import Problem, not_found
from hearth_kit.runtime import Runtime

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
from hearth_property.service.residents import follow_lease
from hearth_property.service.views import lease_snapshot, lease_view, status_of, unit_snapshot

SOURCE = "hearth/property"
log = get_logger(__name__)


async def _reload(conn: asyncpg.Connection, lease_id: str) -> asyncpg.Record:
    row = await repo.get_lease(conn, lease_id)
    assert row is not None
    return row


async def _set_unit_status(conn: asyncpg.Connection, *, unit_id: str, status: str, only_from: str | None,
                           org_id: str, traceparent: str | None) -> None:
    unit = await unit_repo.get_unit(conn, unit_id, for_update=True)
    if unit is None or unit["status"] == status or (only_from is not None and unit["status"] != only_from):
        return
    after = await unit_repo.set_status(conn, unit_id, status)
    await outbox.append(conn, source=SOURCE, subject=unit_id, org_id=org_id, traceparent=traceparent,
                        data=UnitStatusChanged(**unit_snapshot(after), previous_status=unit["status"]))


async def _activate(conn: asyncpg.Connection, lease: asyncpg.Record, *, today: date,
                    traceparent: str | None = None) -> None:
    """The lease runs from today: its unit is rented; announce it."""
    await _set_unit_status(conn, unit_id=lease["unit_id"], status="rented", only_from=None,
                           org_id=lease["org_id"], traceparent=traceparent)
    await repo.set_announced(conn, lease["id"], "active")
    await follow_lease(conn, lease_id=lease["id"], running=True, org_id=lease["org_id"], traceparent=traceparent)
    row = await _reload(conn, lease["id"])
    await outbox.append(conn, source=SOURCE, data=LeaseActivated(**lease_snapshot(row, today=today)),
                        subject=row["id"], org_id=row["org_id"], traceparent=traceparent)


async def _end(conn: asyncpg.Connection, lease: asyncpg.Record, *, today: date,
               traceparent: str | None = None) -> None:
    """The lease stopped running: a rented unit becomes available; announce it."""
    await _set_unit_status(conn, unit_id=lease["unit_id"], status="available", only_from="rented",
                           org_id=lease["org_id"], traceparent=traceparent)
    await repo.set_announced(conn, lease["id"], "ended")
    await follow_lease(conn, lease_id=lease["id"], running=False, org_id=lease["org_id"], traceparent=traceparent)
    row = await _reload(conn, lease["id"])
    reason = "terminated" if status_of(row, today=today) == "terminated" else "expired"
    await outbox.append(conn, source=SOURCE, data=LeaseEnded(**lease_snapshot(row, today=today), reason=reason),
                        subject=row["id"], org_id=row["org_id"], traceparent=traceparent)


async def _catch_up(conn: asyncpg.Connection, lease: asyncpg.Record, *, today: date,
                    traceparent: str | None = None) -> str | None:
    """Bring a lease's announced state in line with its dates; returns what was done."""
    status = status_of(lease, today=today)
    action = announcement_due(status, lease["announced"])  # type: ignore[arg-type]
    if action == "activate":
        await _activate(conn, lease, today=today, traceparent=traceparent)
    elif action == "end":
        await _end(conn, lease, today=today, traceparent=traceparent)
    elif action == "close":
        await repo.set_announced(conn, lease["id"], "ended")
    return action


async def create_lease(conn: asyncpg.Connection, *, principal: Principal, body: LeaseIn,
                       traceparent: str | None = None, today: date | None = None) -> dict[str, Any]:
    """Sign a lease on a free unit (409 on overlap); a lease starting today activates at once."""
    # The unit's row lock serialises lease writers per unit, so the overlap check cannot race.
    unit = await unit_repo.get_unit(conn, body.unit_id, for_update=True)
    if unit is None:
        raise Problem(404, f"unit {body.unit_id} not found", slug="not-found",
                      errors=[{"field": "unit_id", "message": f"unit {body.unit_id} not found"}])
    known = await resident_repo.existing_resident_ids(conn, body.resident_ids)
    unknown = [r for r in body.resident_ids if r not in known]
    if unknown:
        raise Problem(404, f"resident(s) not found: {', '.join(unknown)}", slug="not-found", unknown_ids=unknown,
                      errors=[{"field": "resident_ids", "message": f"not found: {', '.join(unknown)}"}])
    building = await building_repo.get_building(conn, unit["building_id"])
    assert building is not None
    start, until = lease_span(start=body.start_date, end=body.end_date, terminated_on=None)
    clash = await repo.overlapping_lease(conn, unit_id=body.unit_id, start=start, until=until)
    if clash:
        raise Problem(409, f"unit {body.unit_id} already has lease {clash} in that period", slug="lease-overlap",
                      conflicting_lease_id=clash)
    today = today or local_today(building["timezone"])
    status = lease_status(start=body.start_date, end=body.end_date, terminated_on=None, today=today)
    lease_id = new_id("lease")
    await repo.insert_lease(conn, {
        "id": lease_id, "org_id": principal.org_id, "unit_id": body.unit_id, "building_id": unit["building_id"],
        "type": body.type, "start_date": body.start_date, "end_date": body.end_date,
        "rent_amount": body.rent.amount, "rent_currency": body.rent.currency,
        "deposit_amount": body.deposit.amount if body.deposit else 0,
        "deposit_currency": body.deposit.currency if body.deposit else body.rent.currency,
        "payment_due_day": body.payment_due_day,
        # a lease entered after it already ended never changes its unit
        "announced": "ended" if status == "past" else "none",
    }, body.resident_ids)
    row = await _reload(conn, lease_id)
    await outbox.append(conn, source=SOURCE, data=LeaseCreated(**lease_snapshot(row, today=today)),
                        subject=lease_id, org_id=principal.org_id, traceparent=traceparent)
    if status == "active":
        await _activate(conn, row, today=today, traceparent=traceparent)
    return lease_view(await _reload(conn, lease_id), today=today)


async def terminate_lease(db: Database, *, principal: Principal, lease_id: str, body: TerminateIn,
                          traceparent: str | None = None, today: date | None = None) -> dict[str, Any]:
    """Terminate a lease from `date` (default today); takes effect at once when that day has come."""
    principal.require_write()
    async with db.transaction(org_id=principal.org_id) as conn:
        lease = await repo.get_lease(conn, lease_id, for_update=True)
        if lease is None:
            raise not_found("lease", lease_id)
        today = today or local_today(lease["timezone"])
        status = status_of(lease, today=today)
        if lease["terminated_on"] is not None or status == "past":
            raise Problem(409, f"lease {lease_id} is {status if status == 'past' else 'already terminated'}",
                          slug="lease-not-running", status_now=status, allowed_from=["future", "active"])
        on = body.date or today
        last = lease["end_date"]
        if last is not None and on > last + timedelta(days=1):
            raise Problem(422, "termination date is after the lease's end", slug="validation-error",
                          errors=[{"field": "date", "message": f"must be on or before {last + timedelta(days=1)}"}])
        await unit_repo.get_unit(conn, lease["unit_id"], for_update=True)
        await repo.terminate(conn, lease_id, on=on, reason=body.reason)
        row = await _reload(conn, lease_id)
        await outbox.append(conn, source=SOURCE, data=LeaseTerminated(**lease_snapshot(row, today=today)),
                            subject=lease_id, org_id=principal.org_id, traceparent=traceparent)
        await _catch_up(conn, row, today=today, traceparent=traceparent)
        return lease_view(await _reload(conn, lease_id), today=today)


async def get_lease(db: Database, *, principal: Principal, lease_id: str) -> dict[str, Any]:
    """One lease, or 404."""
    async with db.transaction(org_id=principal.org_id) as conn:
        row = await repo.get_lease(conn, lease_id)
    if row is None:
        raise not_found("lease", lease_id)
    return lease_view(row)


async def list_leases(db: Database, *, principal: Principal, page: PageParams, unit_id: str | None,
                      resident_id: str | None, status: str | None) -> tuple[list[dict[str, Any]], int]:
    """A page of leases, newest start first."""
    async with db.transaction(org_id=principal.org_id) as conn:
        rows, total = await repo.list_leases(conn, org_id=principal.org_id, unit_id=unit_id,
                                             resident_id=resident_id, status=status, limit=page.limit,
                                             offset=page.offset)
    return [lease_view(r) for r in rows], total


async def sweep_leases(db: Database, *, today: date | None = None, batch: int = 500) -> dict[str, int]:
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
                action = await _catch_up(conn, row, today=today or local_today(row["timezone"]))
                if action:
                    done[action] += 1
                    acted += 1
        if len(rows) < batch or acted == 0:
            return done


async def lease_sweep_job(runtime: Runtime) -> None:
    """Background job: sweep every `lease_sweep_seconds` (HEARTH_PROPERTY_LEASE_SWEEP_SECONDS)."""
    interval = float(getattr(runtime.settings, "lease_sweep_seconds", 60.0))
    while True:
        result = await sweep_leases(runtime.db)
        if any(result.values()):
            log.info("lease sweep", **result)
        await asyncio.sleep(interval)
