"""Lock status and lock events, polled from the vendor, become Hearth's lock facts.

Status: state, battery and "minutes since last update" per lock → offline/online and battery-low facts.
Events: each vendor lock event is recorded once (vendor event id) → locked/unlocked (with method and code),
jammed, tampered; a keypad use of a Hearth code → `hearth.access_code.used.v1`. The first pass after a
vendor is added only records the vendor's history (what happened before it was added), without
announcing it; what happened since is announced even when that pass is the first to see it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hearth_contracts.access import (
    AccessCodeUsed,
    CodeRefs,
    LockBatteryLow,
    LockJammed,
    LockLocked,
    LockOffline,
    LockOnline,
    LockTampered,
    LockUnlocked,
)
from hearth_kit.ids import new_id
from hearth_kit.logging import get_logger
from hearth_kit.tx import Tx

from hearth_access import repository as repo
from hearth_access.domain.locks import Observation, method_of, observe
from hearth_access.service.vendors import VendorHub
from hearth_access.vendor.driver import VendorError, VendorLockEvent, VendorLockStatus

log = get_logger(__name__)


def _fact_fields(lock: Any, at: datetime) -> dict[str, Any]:
    return {"org_id": lock["org_id"], "lock_id": lock["id"], "building_id": lock["building_id"] or "",
            "unit_id": lock["unit_id"], "battery_pct": lock["battery_pct"], "at": at}


async def poll_vendor(hub: VendorHub, *, vendor_id: str, org_id: str) -> None:
    """One status + events pass over a vendor; a vendor fault marks it degraded (and is retried next pass)."""
    async with hub.db.transaction(org_id=org_id) as conn:
        vendor = await repo.vendor(conn, vendor_id)
    if vendor is None:
        return
    drv = hub.driver_for(vendor)
    async with hub.lock_for(vendor_id):
        observed_at = datetime.now(UTC)  # a state written after this (a command's outcome) is newer than the poll
        try:
            statuses = await drv.lock_status("all")
            events = await drv.lock_events("all")
        except VendorError as exc:
            async with hub.db.transaction(org_id=org_id) as conn:
                await repo.set_vendor_health(conn, vendor_id, ok=False, error=str(exc))
            return
        async with hub.tx(org_id) as tx:
            conn = tx.conn
            locks = {r["vendor_lock_id"]: r for r in await repo.locks_of_vendor(conn, vendor_id)}
            cursor = float(vendor["events_cursor"])
            # the vendor lists every event ever: only those from the newest second seen onwards are new
            fresh = [e for e in events if e.at.timestamp() >= cursor]
            await _apply_events(tx, locks, fresh, announce_from=_announce_from(vendor))
            locks = {r["vendor_lock_id"]: r for r in await repo.locks_of_vendor(conn, vendor_id)}
            await _apply_statuses(hub, tx, locks, statuses, observed_at=observed_at)
            newest = max((e.at.timestamp() for e in fresh), default=cursor)
            if not vendor["events_primed"] or newest > cursor:
                await repo.set_events_seen(conn, vendor_id, cursor=newest)
            if vendor["status"] != "ok":
                await repo.set_vendor_health(conn, vendor_id, ok=True, error=None)


async def _apply_statuses(hub: VendorHub, tx: Tx, locks: dict[str, Any],
                          statuses: list[VendorLockStatus], *, observed_at: datetime) -> None:
    conn, now = tx.conn, datetime.now(UTC)
    changed: list[tuple[str, str, int | None, bool, datetime]] = []
    for st in statuses:
        lock = locks.get(st.lock_id)
        if lock is None:
            continue  # not imported yet: the next import brings it
        t = observe(previous_state=lock["state"], previous_online=lock["online"], previous_battery=lock["battery_pct"],
                    seen=Observation(st.state, st.battery, st.minutes_since_update),
                    offline_after_minutes=hub.settings.offline_after_minutes,
                    battery_low_pct=hub.settings.battery_low_pct)
        online = not t.went_offline and (t.came_online or lock["online"])
        seen_at = now - timedelta(minutes=st.minutes_since_update)
        if _differs(lock, state=t.state, battery=st.battery, online=online, seen=seen_at):
            changed.append((lock["id"], t.state, st.battery, online, seen_at))
        battery = st.battery if st.battery is not None else lock["battery_pct"]
        fields = {**_fact_fields(lock, now), "battery_pct": battery}
        if t.went_offline:
            await tx.emit(subject=lock["id"], data=LockOffline(**fields))
            await repo.insert_lock_event(conn, event_id=new_id("lev"), org_id=lock["org_id"], lock_id=lock["id"],
                                         vendor_event_id=None, type_="offline", method=None, access_code_id=None,
                                         battery=st.battery, at=now)
        if t.came_online:
            await tx.emit(subject=lock["id"], data=LockOnline(**fields))
            await repo.insert_lock_event(conn, event_id=new_id("lev"), org_id=lock["org_id"], lock_id=lock["id"],
                                         vendor_event_id=None, type_="online", method=None, access_code_id=None,
                                         battery=st.battery, at=now)
        if t.battery_low:
            await tx.emit(subject=lock["id"], data=LockBatteryLow(**fields))
            await repo.insert_lock_event(conn, event_id=new_id("lev"), org_id=lock["org_id"], lock_id=lock["id"],
                                         vendor_event_id=None, type_="battery_low", method=None, access_code_id=None,
                                         battery=st.battery, at=now)
    # one statement for the locks whose reading changed; an unchanged lock is not written at all (a
    # 100-lock vendor polled every few seconds would otherwise cost 100 updates per pass)
    await repo.update_lock_statuses(conn, changed, observed_at=observed_at)


def _differs(lock: Any, *, state: str, battery: int | None, online: bool, seen: datetime) -> bool:
    """Whether a reading says something new (the vendor counts in whole minutes, so `last_seen` within a
    minute of what is stored is the same reading)."""
    last_seen = lock["last_seen"]
    return (lock["state"] != state or lock["online"] != online
            or (battery is not None and battery != lock["battery_pct"])
            or last_seen is None or abs((seen - last_seen).total_seconds()) >= 60)


def _announce_from(vendor: Any) -> datetime | None:
    """Events from when on are announced: all once the history is taken in, else those since the vendor was
    added (a keypad use between adding the vendor and its first pass is news, not history). Vendor event
    times are whole seconds: the second the vendor was added counts as after."""
    return None if vendor["events_primed"] else vendor["created_at"].replace(microsecond=0)


async def _apply_events(tx: Tx, locks: dict[str, Any], events: list[VendorLockEvent], *,
                        announce_from: datetime | None) -> None:
    conn = tx.conn
    for ev in sorted(events, key=lambda e: e.at):
        lock = locks.get(ev.lock_id)
        if lock is None or ev.action not in ("locked", "unlocked", "jammed", "tampered"):
            continue
        code = await repo.code_by_vendor_code(conn, ev.code_id) if ev.code_id else None
        method = method_of(ev.method)
        fresh = await repo.insert_lock_event(
            conn, event_id=new_id("lev"), org_id=lock["org_id"], lock_id=lock["id"], vendor_event_id=ev.event_id,
            type_=ev.action, method=method if ev.action in ("locked", "unlocked") else None,
            access_code_id=code["id"] if code else None, battery=lock["battery_pct"], at=ev.at)
        if not fresh or (announce_from is not None and ev.at < announce_from):
            continue
        fields = _fact_fields(lock, ev.at)
        if ev.action == "jammed":
            await repo.set_lock_state(conn, lock["id"], "jammed")
            await tx.emit(subject=lock["id"], data=LockJammed(**fields))
        elif ev.action == "tampered":
            await tx.emit(subject=lock["id"], data=LockTampered(**fields))
        elif method != "app":  # app (API) operations were announced by the attempt that caused them
            fact = LockLocked if ev.action == "locked" else LockUnlocked
            await repo.set_lock_state(conn, lock["id"], ev.action)
            await tx.emit(subject=lock["id"], data=fact(
                **fields, method=method, access_code_id=code["id"] if code else None))
        if code is not None and ev.action == "unlocked":
            await repo.mark_first_use(conn, code["id"], ev.at)
            await tx.emit(subject=code["id"], data=AccessCodeUsed(
                org_id=lock["org_id"], access_code_id=code["id"], lock_id=lock["id"], purpose=code["purpose"],
                refs=CodeRefs(request_id=code["request_id"], lease_id=code["lease_id"]), at=ev.at))


async def apply_pushed(hub: VendorHub, *, vendor: Any, events: list[VendorLockEvent]) -> None:
    """Lock events the vendor pushed: recorded and announced exactly like polled ones. Each vendor event id
    is recorded once (unique per lock), so whichever of the push and the poller comes second does nothing;
    the poller's cursor is left alone (it simply finds these already recorded)."""
    async with hub.tx(vendor["org_id"]) as tx:
        locks = {r["vendor_lock_id"]: r for r in await repo.locks_of_vendor(tx.conn, vendor["id"])}
        await _apply_events(tx, locks, events, announce_from=_announce_from(vendor))


async def poll_pass(hub: VendorHub) -> None:
    """Poll every vendor once."""
    async with hub.db.system_transaction() as conn:
        vendors = await repo.all_vendors(conn)
    for v in vendors:
        try:
            await poll_vendor(hub, vendor_id=v["id"], org_id=v["org_id"])
        except Exception:
            log.exception("lock polling failed", vendor_id=v["id"])
