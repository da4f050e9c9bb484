"""Codes that follow the rest of the platform: technician visits (maintenance) and leases (property).

Each handler runs in the consumer's transaction with its inbox row, so a redelivered event has no second
effect; the unique indexes on (request) and (lease, resident) hold even if an event id were new.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from hearth_contracts.envelope import Envelope
from hearth_contracts.maintenance import RequestAssigned, RequestCanceled, RequestCompleted, RequestRescheduled
from hearth_contracts.property import LeaseActivated, LeaseEnded, LeaseTerminated
from hearth_kit.logging import get_logger
from hearth_kit.problems import Problem

from hearth_access import repository as repo
from hearth_access.config import Settings
from hearth_access.domain.schedule import DateRange, Schedule
from hearth_access.service.codes import NewCode, change_code, issue_code, remove_code

log = get_logger(__name__)

MAINTENANCE_TYPES = frozenset({RequestAssigned.event_type, RequestRescheduled.event_type,
                               RequestCompleted.event_type, RequestCanceled.event_type})
LEASE_TYPES = frozenset({LeaseActivated.event_type, LeaseEnded.event_type, LeaseTerminated.event_type})


async def _issue_quietly(conn: asyncpg.Connection, *, org_id: str, spec: NewCode, settings: Settings) -> None:
    """Issue an automation's code; a unit with no placed lock simply gets none (logged, not retried)."""
    try:
        await issue_code(conn, org_id=org_id, spec=spec, settings=settings, strict=False)
    except Problem as exc:
        if exc.slug == "unknown-unit":  # the unit's own event is a moment behind: let the consumer retry
            raise
        log.info("automation issued no code", reason=exc.detail, name=spec.name)


def technician_schedule(event: RequestAssigned | RequestRescheduled | Any) -> Schedule | None:
    if not event.permission_to_enter or event.window is None:
        return None  # without permission or a window nobody gets in on their own
    return Schedule(date_range=DateRange(start=event.window.start, end=event.window.end))


async def on_request(conn: asyncpg.Connection, envelope: Envelope, settings: Settings) -> None:
    org_id = envelope.orgid
    if envelope.type in (RequestAssigned.event_type, RequestRescheduled.event_type):
        event = envelope.data_as(RequestAssigned if envelope.type == RequestAssigned.event_type else RequestRescheduled)
        existing = await repo.code_for_request(conn, event.request_id)
        schedule = technician_schedule(event)
        if existing is not None and not existing["deleted"]:
            if schedule is None:
                await remove_code(conn, org_id=org_id, code_id=existing["id"])
            else:
                await change_code(conn, org_id=org_id, code_id=existing["id"], name=existing["name"],
                                  schedule=schedule, unlock_notifications=existing["unlock_notifications"])
            return
        if existing is not None or schedule is None:
            return
        target_unit = event.unit_id if event.unit_id and await repo.unit(conn, event.unit_id) else None
        if target_unit is None:
            common = [r["id"] for r in await repo.locks_of_building(conn, event.building_id) if r["unit_id"] is None]
            if not common:
                log.info("request has no lock to open", request_id=event.request_id)
                return
        spec = NewCode(name=f"Technician visit {event.request_id}", purpose="technician", schedule=schedule,
                       unit_id=target_unit, lock_ids=() if target_unit else tuple(common),
                       request_id=event.request_id, unlock_notifications="first-use")
        await _issue_quietly(conn, org_id=org_id, spec=spec, settings=settings)
    else:
        done = envelope.data_as(RequestCompleted if envelope.type == RequestCompleted.event_type else RequestCanceled)
        existing = await repo.code_for_request(conn, done.request_id)
        if existing is not None:
            await remove_code(conn, org_id=org_id, code_id=existing["id"])


async def on_lease(conn: asyncpg.Connection, envelope: Envelope, settings: Settings) -> None:
    org_id = envelope.orgid
    if envelope.type == LeaseActivated.event_type:
        lease = envelope.data_as(LeaseActivated)
        for resident_id in lease.resident_ids:
            spec = NewCode(name=f"Resident {resident_id}", purpose="resident", schedule=Schedule(manual="activated"),
                           unit_id=lease.unit_id, lease_id=lease.lease_id, resident_id=resident_id)
            await _issue_quietly(conn, org_id=org_id, spec=spec, settings=settings)
        return
    ended = envelope.data_as(LeaseEnded if envelope.type == LeaseEnded.event_type else LeaseTerminated)
    for code in await repo.codes_for_lease(conn, ended.lease_id):
        await remove_code(conn, org_id=org_id, code_id=code["id"])
    await repo.open_clearance(conn, lease_id=ended.lease_id, org_id=org_id, unit_id=ended.unit_id)
