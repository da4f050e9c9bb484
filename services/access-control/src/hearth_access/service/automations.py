"""Codes that follow the rest of the platform: technician visits (maintenance) and leases (property).

Each handler runs in the consumer's transaction with its inbox row, so a redelivered event has no second
effect; the unique indexes on (live request code) and (lease, resident) hold even if an event id were new.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from hearth_contracts.maintenance import (
    RequestAssigned,
    RequestCanceled,
    RequestCompleted,
    RequestRescheduled,
    RequestUnassigned,
)
from hearth_contracts.property import LeaseActivated, LeaseEnded, LeaseTerminated
from hearth_kit.errors import DomainError
from hearth_kit.logging import get_logger
from hearth_kit.subscriptions import On, on
from hearth_kit.tx import Tx

from hearth_access import repository as repo
from hearth_access.config import Settings
from hearth_access.domain.schedule import DateRange, Schedule
from hearth_access.service.codes import NewCode, change_code, issue_code, remove_code

log = get_logger(__name__)


async def _issue_quietly(tx: Tx, *, spec: NewCode, settings: Settings) -> None:
    """Issue an automation's code; a unit with no placed lock simply gets none (logged, not retried)."""
    try:
        await issue_code(tx, spec=spec, settings=settings, strict=False)
    except DomainError as exc:
        if exc.code == "unknown-unit":  # the unit's own event is a moment behind: let the consumer retry
            raise
        log.info("automation issued no code", reason=exc.detail, name=spec.name)


def technician_schedule(event: RequestAssigned | RequestRescheduled) -> Schedule | None:
    if not event.permission_to_enter or event.window is None:
        return None  # without permission or a window nobody gets in on their own
    return Schedule(date_range=DateRange(start=event.window.start, end=event.window.end))


def start_of_day(day: date, timezone: str) -> datetime:
    """00:00 of `day` in the zone (the first moment the day exists, should a zone ever skip midnight)."""
    local = datetime.combine(day, time(0), tzinfo=ZoneInfo(timezone))
    return local.astimezone(UTC)


class Automations:
    """The consumers' handlers; they need the settings (code rules) and ask the scheduler for a pass."""

    def __init__(self, settings: Settings, wake_sync: Any) -> None:
        self.settings = settings
        self.wake_sync = wake_sync

    # --- maintenance ------------------------------------------------------------------------------

    async def request_scheduled(self, tx: Tx, event: RequestAssigned | RequestRescheduled) -> None:
        """Assigned or rescheduled: a technician code valid only in the window (moved if it exists)."""
        existing = await repo.code_for_request(tx.conn, event.request_id)
        schedule = technician_schedule(event)
        if existing is not None and not existing["deleted"]:
            if schedule is None:
                await remove_code(tx, code_id=existing["id"])
            else:
                await change_code(tx, code_id=existing["id"], name=existing["name"], schedule=schedule,
                                  unlock_notifications=existing["unlock_notifications"])
            self.wake_sync()
            return
        # a removed code comes back only with a new assignment (after an unassign), never with a late move
        if schedule is None or (existing is not None and isinstance(event, RequestRescheduled)):
            return
        target_unit = event.unit_id if event.unit_id and await repo.unit(tx.conn, event.unit_id) else None
        common: list[str] = []
        if target_unit is None:
            common = [r["id"] for r in await repo.locks_of_building(tx.conn, event.building_id)
                      if r["unit_id"] is None]
            if not common:
                log.info("request has no lock to open", request_id=event.request_id)
                return
        spec = NewCode(name=f"Technician visit {event.request_id}", purpose="technician", schedule=schedule,
                       unit_id=target_unit, lock_ids=() if target_unit else tuple(common),
                       request_id=event.request_id, unlock_notifications="first-use")
        await _issue_quietly(tx, spec=spec, settings=self.settings)
        self.wake_sync()

    async def request_closed(self, tx: Tx, event: RequestCompleted | RequestCanceled | RequestUnassigned) -> None:
        """Completed, canceled or back to `new` without a technician: the request's code is removed."""
        existing = await repo.code_for_request(tx.conn, event.request_id)
        if existing is not None and not existing["deleted"]:
            await remove_code(tx, code_id=existing["id"])
            self.wake_sync()

    # --- leases -----------------------------------------------------------------------------------

    async def lease_activated(self, tx: Tx, lease: LeaseActivated) -> None:
        for resident_id in lease.resident_ids:
            spec = NewCode(name=f"Resident {resident_id}", purpose="resident", schedule=Schedule(manual="activated"),
                           unit_id=lease.unit_id, lease_id=lease.lease_id, resident_id=resident_id)
            await _issue_quietly(tx, spec=spec, settings=self.settings)
        self.wake_sync()

    async def lease_terminated(self, tx: Tx, lease: LeaseTerminated) -> None:
        """Terminated: codes go at the start of `terminated_on` (the first day the lease no longer runs) in
        the building's zone; at once when that day has come already."""
        if lease.terminated_on is not None:
            building = await repo.building(tx.conn, lease.building_id)
            zone = building["timezone"] if building is not None else "UTC"
            remove_at = start_of_day(lease.terminated_on, zone)
            if remove_at > datetime.now(UTC):
                await repo.schedule_lease_removal(tx.conn, lease_id=lease.lease_id, org_id=tx.org_id,
                                                  unit_id=lease.unit_id, remove_at=remove_at)
                return
        await remove_lease_codes(tx, lease_id=lease.lease_id, unit_id=lease.unit_id)
        self.wake_sync()

    async def lease_ended(self, tx: Tx, lease: LeaseEnded) -> None:
        await remove_lease_codes(tx, lease_id=lease.lease_id, unit_id=lease.unit_id)
        self.wake_sync()

    def handlers(self) -> tuple[list[On[Any]], list[On[Any]]]:
        """(maintenance.events handlers, property.events lease handlers)."""
        maintenance: list[On[Any]] = [
            on(RequestAssigned, self.request_scheduled), on(RequestRescheduled, self.request_scheduled),
            on(RequestCompleted, self.request_closed), on(RequestCanceled, self.request_closed),
            on(RequestUnassigned, self.request_closed)]
        leases: list[On[Any]] = [on(LeaseActivated, self.lease_activated), on(LeaseTerminated, self.lease_terminated),
                                 on(LeaseEnded, self.lease_ended)]
        return maintenance, leases


async def remove_lease_codes(tx: Tx, *, lease_id: str, unit_id: str) -> None:
    """Remove every code of the lease, then wait for each lock's proof before `unit.access_cleared`."""
    for code in await repo.codes_for_lease(tx.conn, lease_id):
        await remove_code(tx, code_id=code["id"])
    await repo.open_clearance(tx.conn, lease_id=lease_id, org_id=tx.org_id, unit_id=unit_id)
    await tx.conn.execute("DELETE FROM lease_code_removals WHERE lease_id = $1", lease_id)


async def remove_due_leases(hub: Any) -> int:
    """The scheduler's part of a terminated lease: remove its codes once its day has come."""
    async with hub.db.system_transaction() as conn:
        due = await repo.due_lease_removals(conn)
    for row in due:
        async with hub.tx(row["org_id"]) as tx:
            taken = await repo.take_lease_removal(tx.conn, row["lease_id"])
            if taken is not None:
                await remove_lease_codes(tx, lease_id=taken["lease_id"], unit_id=taken["unit_id"])
    return len(due)
