"""What other services' facts do here: sensors and locks open requests, code use moves them, property and
auth facts feed the local projections. Each handler runs in the consumer's inbox transaction (one effect per event).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import asyncpg
from hearth_contracts.access import AccessCodeUsed, LockJammed
from hearth_contracts.auth import MemberCreated, MemberDeleted
from hearth_contracts.envelope import Envelope
from hearth_contracts.maintenance import RequestOverdue
from hearth_contracts.property import BuildingCreated, BuildingDeleted, UnitCreated, UnitDeleted
from hearth_contracts.telemetry import AlertCleared, AlertRaised
from hearth_kit.db import Database
from hearth_kit.ids import new_id
from hearth_kit.logging import get_logger
from hearth_kit.runtime import Runtime

from hearth_maintenance import repository as repo
from hearth_maintenance.domain import LOCK_FACT_PRIORITY, alert_request, due_at, lock_fact_title
from hearth_maintenance.service import SYSTEM_ACTOR, emit, move, record_created, sla_hours, write_comment

log = get_logger(__name__)


async def _open_request(conn: asyncpg.Connection, org_id: str, fields: dict[str, Any], *, source_event: str,
                        traceparent: str | None) -> None:
    now = datetime.now(UTC)
    row = await repo.insert_request(conn, {
        "id": new_id("req"), "org_id": org_id, "status": "new", "created_by": SYSTEM_ACTOR, "created_at": now,
        "updated_at": now, "due_at": due_at(now, fields["priority"], await sla_hours(conn)), **fields,
    })
    await record_created(conn, row, actor=SYSTEM_ACTOR, traceparent=traceparent, details={"event_id": source_event})


# --- telemetry.alerts ------------------------------------------------------------------------------


async def on_alert_raised(conn: asyncpg.Connection, envelope: Envelope) -> None:
    """Open a request for the sensor, or, while one is open, note the new raise on it."""
    alert = envelope.data_as(AlertRaised)
    existing = await repo.open_request_for(conn, column="sensor_id", value=alert.sensor_id)
    text = (f"{alert.sensor_kind} alert ({alert.severity}) on sensor {alert.sensor_id}"
            + (f": value {alert.value}" if alert.value is not None else "")
            + (f", threshold {alert.threshold}" if alert.threshold is not None else ""))
    if existing is not None:
        await repo.update_request(conn, existing["id"], {"alert_id": alert.alert_id, "alert_active": True})
        await write_comment(conn, org_id=envelope.orgid, request_id=existing["id"], author=SYSTEM_ACTOR,
                            text=f"Raised again at {alert.raised_at.isoformat()}: {text}",
                            traceparent=envelope.traceparent)
        return
    category, priority = alert_request(alert.sensor_kind, alert.severity)
    await _open_request(conn, envelope.orgid, {
        "building_id": alert.building_id, "unit_id": alert.unit_id, "title": text[:200],
        "description": f"Opened by alert {alert.alert_id} raised at {alert.raised_at.isoformat()}.",
        "category": category, "priority": priority, "source": "sensor", "reporter_id": None,
        "sensor_id": alert.sensor_id, "alert_id": alert.alert_id, "alert_active": True,
    }, source_event=envelope.id, traceparent=envelope.traceparent)


async def on_alert_cleared(conn: asyncpg.Connection, envelope: Envelope) -> None:
    """Record the clearing in the history of the requests its alert opened (and allow completing them)."""
    alert = envelope.data_as(AlertCleared)
    for row in await repo.requests_of_alert(conn, sensor_id=alert.sensor_id, alert_id=alert.alert_id):
        await repo.update_request(conn, row["id"], {"alert_active": False})
        await repo.add_history(conn, org_id=envelope.orgid, request_id=row["id"], kind="alert_cleared",
                               actor_id=SYSTEM_ACTOR, details={
                                   "alert_id": alert.alert_id, "sensor_id": alert.sensor_id,
                                   "cleared_at": alert.cleared_at.isoformat(), "value": alert.value})


# --- access.events -----------------------------------------------------------------------------------

LOCK_FACTS = frozenset(LOCK_FACT_PRIORITY)


async def on_lock_fact(conn: asyncpg.Connection, envelope: Envelope) -> None:
    """A jammed/tampered/low-battery/offline lock opens a `locks` request, at most one open per lock."""
    fact = envelope.data_as(LockJammed)  # every lock fact has the same fields
    title = lock_fact_title(envelope.type, fact.lock_id)
    existing = await repo.open_request_for(conn, column="lock_id", value=fact.lock_id)
    if existing is not None:
        await write_comment(conn, org_id=envelope.orgid, request_id=existing["id"], author=SYSTEM_ACTOR,
                            text=f"{title} (reported {fact.at.isoformat()})", traceparent=envelope.traceparent)
        return
    battery = f" Battery {fact.battery_pct}%." if fact.battery_pct is not None else ""
    await _open_request(conn, envelope.orgid, {
        "building_id": fact.building_id, "unit_id": fact.unit_id, "title": title[:200],
        "description": f"Reported by the lock at {fact.at.isoformat()}.{battery}", "category": "locks",
        "priority": LOCK_FACT_PRIORITY[envelope.type], "source": "lock", "reporter_id": None,
        "lock_id": fact.lock_id,
    }, source_event=envelope.id, traceparent=envelope.traceparent)


async def on_code_used(conn: asyncpg.Connection, envelope: Envelope) -> None:
    """A technician's code used on a lock: their assigned request is now in progress (or the visit is noted)."""
    used = envelope.data_as(AccessCodeUsed)
    request_id = used.refs.request_id
    if request_id is None:
        return
    row = await repo.get_request(conn, request_id, for_update=True)  # RLS: only the event's org
    if row is None:
        return
    details = {"access_code_id": used.access_code_id, "lock_id": used.lock_id, "at": used.at.isoformat()}
    actor = row["assignee_id"] or SYSTEM_ACTOR
    if row["status"] == "assigned":
        await move(conn, row, target="in_progress", actor=actor, principal=None,
                   reason=f"access code used on {used.lock_id}", traceparent=envelope.traceparent, details=details)
    else:
        await repo.add_history(conn, org_id=envelope.orgid, request_id=request_id, kind="code_used", actor_id=actor,
                               details=details)


# --- property.events: the building/unit projection ------------------------------------------------


async def on_property_fact(conn: asyncpg.Connection, envelope: Envelope) -> None:
    """Keep the buildings/units projection; a deleted unit cancels its open requests."""
    kind = envelope.type
    if kind.startswith("hearth.building."):
        if kind == BuildingDeleted.event_type:
            await repo.delete_building(conn, envelope.data_as(BuildingDeleted).building_id)
        else:
            b = envelope.data_as(BuildingCreated)
            await repo.upsert_building(conn, building_id=b.building_id, org_id=envelope.orgid, name=b.name)
        return
    if kind == UnitDeleted.event_type:
        unit_id = envelope.data_as(UnitDeleted).unit_id
        await repo.delete_unit(conn, unit_id)
        for row in await repo.open_requests_of_unit(conn, unit_id):
            await move(conn, row, target="canceled", actor=SYSTEM_ACTOR, principal=None,
                       reason=f"unit {unit_id} was deleted", traceparent=envelope.traceparent)
        return
    u = envelope.data_as(UnitCreated)
    await repo.upsert_unit(conn, unit_id=u.unit_id, org_id=envelope.orgid, building_id=u.building_id, name=u.name)


PROPERTY_FACTS = frozenset({
    "hearth.building.created.v1", "hearth.building.updated.v1", "hearth.building.status_changed.v1",
    "hearth.building.deleted.v1", "hearth.unit.created.v1", "hearth.unit.updated.v1",
    "hearth.unit.status_changed.v1", "hearth.unit.deleted.v1",
})


# --- auth.events: the member projection --------------------------------------------------------------

MEMBER_FACTS = frozenset({"hearth.member.created.v1", "hearth.member.updated.v1", "hearth.member.deleted.v1"})


async def on_member_fact(conn: asyncpg.Connection, envelope: Envelope) -> None:
    """Keep the members projection (technicians are the only valid assignees)."""
    if envelope.type == MemberDeleted.event_type:
        await repo.delete_member(conn, envelope.data_as(MemberDeleted).member_id)
        return
    m = envelope.data_as(MemberCreated)
    await repo.upsert_member(conn, member_id=m.member_id, org_id=envelope.orgid, name=m.name, role=m.role)


# --- the overdue job -------------------------------------------------------------------------------


async def announce_overdue(db: Database, *, batch: int = 500) -> int:
    """Announce every open request whose SLA passed, once each (marked in the same transaction)."""
    total = 0
    while True:
        async with db.system_transaction() as conn:
            rows = await repo.overdue_pending(conn, limit=batch)
            for row in rows:
                await emit(conn, RequestOverdue(
                    request_id=row["id"], org_id=row["org_id"], building_id=row["building_id"],
                    unit_id=row["unit_id"], priority=row["priority"], status=row["status"],
                    assignee_id=row["assignee_id"], due_at=row["due_at"]),
                    request_id=row["id"], org_id=row["org_id"], traceparent=None)
            await repo.mark_overdue_announced(conn, [r["id"] for r in rows])
        total += len(rows)
        if len(rows) < batch:
            return total


async def overdue_job(runtime: Runtime) -> None:
    """Background job: look for requests that just became overdue, every `overdue_sweep_seconds`."""
    interval = float(getattr(runtime.settings, "overdue_sweep_seconds", 30.0))
    while True:
        announced = await announce_overdue(runtime.db)
        if announced:
            log.info("overdue requests announced", count=announced)
        await asyncio.sleep(interval)
