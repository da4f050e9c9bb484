"""What other services' facts do here: sensors and locks open requests, code use moves them, property and
auth facts feed the local projections. Each handler runs in the consumer's inbox transaction (one effect per event).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from hearth_contracts.access import AccessCodeUsed, LockBatteryLow, LockJammed, LockOffline, LockTampered
from hearth_contracts.auth import MemberCreated, MemberDeleted, MemberUpdated
from hearth_contracts.maintenance import RequestOverdue
from hearth_contracts.property import BuildingDeleted, BuildingSnapshot, UnitDeleted, UnitSnapshot
from hearth_contracts.telemetry import AlertCleared, AlertRaised
from hearth_kit.ids import new_id
from hearth_kit.logging import get_logger
from hearth_kit.tx import Tx

from hearth_maintenance import repository as repo
from hearth_maintenance.domain import LOCK_FACT_PRIORITY, alert_request, due_at, lock_fact_title
from hearth_maintenance.runtime import MaintenanceRuntime
from hearth_maintenance.service import SYSTEM_ACTOR, move, record_created, sla_hours, write_comment

log = get_logger(__name__)

LockFact = LockJammed | LockTampered | LockBatteryLow | LockOffline


def _event_id(tx: Tx) -> str | None:
    return tx.envelope.id if tx.envelope is not None else None


async def _open_request(tx: Tx, fields: dict[str, Any]) -> None:
    now = datetime.now(UTC)
    row = await repo.insert_request(tx.conn, {
        "id": new_id("req"), "org_id": tx.org_id, "status": "new", "created_by": SYSTEM_ACTOR, "created_at": now,
        "updated_at": now, "due_at": due_at(now, fields["priority"], await sla_hours(tx.conn)), **fields,
    })
    await record_created(tx, row, actor=SYSTEM_ACTOR, details={"event_id": _event_id(tx)})


# --- telemetry.alerts ------------------------------------------------------------------------------


async def on_alert_raised(tx: Tx, alert: AlertRaised) -> None:
    """Open a request for the sensor, or, while one is open, note the new raise on it."""
    existing = await repo.open_request_for(tx.conn, column="sensor_id", value=alert.sensor_id)
    text = (f"{alert.sensor_kind} alert ({alert.severity}) on sensor {alert.sensor_id}"
            + (f": value {alert.value}" if alert.value is not None else "")
            + (f", threshold {alert.threshold}" if alert.threshold is not None else ""))
    if existing is not None:
        await repo.update_request(tx.conn, existing["id"], {"alert_id": alert.alert_id, "alert_active": True})
        await write_comment(tx, request_id=existing["id"], author=SYSTEM_ACTOR,
                            text=f"Raised again at {alert.raised_at.isoformat()}: {text}")
        return
    category, priority = alert_request(alert.sensor_kind, alert.severity)
    await _open_request(tx, {
        "building_id": alert.building_id, "unit_id": alert.unit_id, "title": text[:200],
        "description": f"Opened by alert {alert.alert_id} raised at {alert.raised_at.isoformat()}.",
        "category": category, "priority": priority, "source": "sensor", "reporter_id": None,
        "sensor_id": alert.sensor_id, "alert_id": alert.alert_id, "alert_active": True,
    })


async def on_alert_cleared(tx: Tx, alert: AlertCleared) -> None:
    """Record the clearing in the history of the requests its alert opened (and allow completing them)."""
    for row in await repo.requests_of_alert(tx.conn, sensor_id=alert.sensor_id, alert_id=alert.alert_id):
        await repo.update_request(tx.conn, row["id"], {"alert_active": False})
        await repo.add_history(tx.conn, org_id=tx.org_id, request_id=row["id"], kind="alert_cleared",
                               actor_id=SYSTEM_ACTOR, details={
                                   "alert_id": alert.alert_id, "sensor_id": alert.sensor_id,
                                   "cleared_at": alert.cleared_at.isoformat(), "value": alert.value})


# --- access.events -----------------------------------------------------------------------------------


async def on_lock_fact(tx: Tx, fact: LockFact) -> None:
    """A jammed/tampered/low-battery/offline lock opens a `locks` request, at most one open per lock."""
    title = lock_fact_title(fact.event_type, fact.lock_id)
    existing = await repo.open_request_for(tx.conn, column="lock_id", value=fact.lock_id)
    if existing is not None:
        await write_comment(tx, request_id=existing["id"], author=SYSTEM_ACTOR,
                            text=f"{title} (reported {fact.at.isoformat()})")
        return
    battery = f" Battery {fact.battery_pct}%." if fact.battery_pct is not None else ""
    await _open_request(tx, {
        "building_id": fact.building_id, "unit_id": fact.unit_id, "title": title[:200],
        "description": f"Reported by the lock at {fact.at.isoformat()}.{battery}", "category": "locks",
        "priority": LOCK_FACT_PRIORITY[fact.event_type], "source": "lock", "reporter_id": None,
        "lock_id": fact.lock_id,
    })


async def on_code_used(tx: Tx, used: AccessCodeUsed) -> None:
    """A technician's code used on a lock: their assigned request is now in progress (or the visit is noted)."""
    request_id = used.refs.request_id
    if request_id is None:
        return
    row = await repo.get_request(tx.conn, request_id, for_update=True)  # RLS: only the event's org
    if row is None:
        return
    details = {"access_code_id": used.access_code_id, "lock_id": used.lock_id, "at": used.at.isoformat()}
    actor = row["assignee_id"] or SYSTEM_ACTOR
    if row["status"] == "assigned":
        await move(tx, row, target="in_progress", actor=actor, reason=f"access code used on {used.lock_id}",
                   details=details)
    else:
        await repo.add_history(tx.conn, org_id=tx.org_id, request_id=request_id, kind="code_used", actor_id=actor,
                               details=details)


# --- property.events: the building/unit projection ------------------------------------------------


async def on_building(tx: Tx, building: BuildingSnapshot) -> None:
    """A building created or changed: keep its name in the projection."""
    await repo.upsert_building(tx.conn, building_id=building.building_id, org_id=tx.org_id, name=building.name)


async def on_building_deleted(tx: Tx, deleted: BuildingDeleted) -> None:
    await repo.delete_building(tx.conn, deleted.building_id)


async def on_unit(tx: Tx, unit: UnitSnapshot) -> None:
    """A unit created or changed (it may move between buildings)."""
    await repo.upsert_unit(tx.conn, unit_id=unit.unit_id, org_id=tx.org_id, building_id=unit.building_id,
                           name=unit.name)


async def on_unit_deleted(tx: Tx, deleted: UnitDeleted) -> None:
    """A deleted unit leaves the projection and cancels its open requests."""
    await repo.delete_unit(tx.conn, deleted.unit_id)
    for row in await repo.open_requests_of_unit(tx.conn, deleted.unit_id):
        await move(tx, row, target="canceled", actor=SYSTEM_ACTOR, reason=f"unit {deleted.unit_id} was deleted")


# --- auth.events: the member projection --------------------------------------------------------------


async def on_member(tx: Tx, member: MemberCreated | MemberUpdated) -> None:
    """Keep the members projection (technicians are the only valid assignees)."""
    await repo.upsert_member(tx.conn, member_id=member.member_id, org_id=tx.org_id, name=member.name,
                             role=member.role)


async def on_member_deleted(tx: Tx, deleted: MemberDeleted) -> None:
    await repo.delete_member(tx.conn, deleted.member_id)


# --- the overdue job -------------------------------------------------------------------------------


async def announce_overdue(runtime: MaintenanceRuntime, *, batch: int = 500) -> int:
    """Announce every open request whose SLA passed, once each (marked in the same transaction)."""
    total = 0
    while True:
        async with runtime.db.system_transaction() as conn:
            rows = await repo.overdue_pending(conn, limit=batch)
            for row in rows:  # across orgs: each event is the request's own org's
                tx = Tx(conn=conn, org_id=row["org_id"], source=runtime.source)
                await tx.emit(RequestOverdue(
                    request_id=row["id"], org_id=row["org_id"], building_id=row["building_id"],
                    unit_id=row["unit_id"], priority=row["priority"], status=row["status"],
                    assignee_id=row["assignee_id"], due_at=row["due_at"]), subject=row["id"])
            await repo.mark_overdue_announced(conn, [r["id"] for r in rows])
        total += len(rows)
        if len(rows) < batch:
            return total


async def overdue_job(runtime: MaintenanceRuntime) -> None:
    """Background job: look for requests that just became overdue, every `overdue_sweep_seconds`."""
    while True:
        announced = await announce_overdue(runtime)
        if announced:
            log.info("overdue requests announced", count=announced)
        await asyncio.sleep(runtime.settings.overdue_sweep_seconds)
