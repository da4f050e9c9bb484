"""Access codes: issue, change, remove; per-lock states; the scheduler that programs the vendor.

Seed 001 programs a code per listing (a listing links locks), so a code targets listings and each of
their locks carries one of the seed's seven states. The scheduler (`sync_vendor`) is the only writer to
the vendor: at each schedule edge it programs the current window (as a date range in the listing's zone,
so the lock itself also closes at the edge) or removes the code; failures retry with backoff and stop,
with a `sync_failed` fact, after `code_sync_max_attempts`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import asyncpg
from hearth_contracts.access import (
    AccessCodeCreated,
    AccessCodeDeleted,
    AccessCodeLockStatusChanged,
    AccessCodeRemoved,
    AccessCodeSyncFailed,
    AccessCodeUpdated,
    CodeRefs,
    UnitAccessCleared,
)
from hearth_kit.errors import Conflict, DomainError, InvalidInput, NotFound
from hearth_kit.ids import new_id
from hearth_kit.logging import get_logger
from hearth_kit.pagination import PageParams
from hearth_kit.tx import Tx

from hearth_access import repository as repo
from hearth_access.config import Settings
from hearth_access.domain import codes as rules
from hearth_access.domain.schedule import Schedule, window_at
from hearth_access.service.vendors import VendorHub, _iso
from hearth_access.vendor.driver import CodeSchedule, VendorError

log = get_logger(__name__)
Purpose = Literal["resident", "technician", "guest", "staff"]


@dataclass(frozen=True)
class NewCode:
    """What a caller (the API or an automation) asks for."""

    name: str
    purpose: Purpose
    schedule: Schedule
    code: str | None = None
    unit_id: str | None = None
    lock_ids: tuple[str, ...] = ()
    lease_id: str | None = None
    request_id: str | None = None
    resident_id: str | None = None
    unlock_notifications: str | None = None


def code_rules(settings: Settings) -> rules.CodeRules:
    return rules.CodeRules(no_all_same_digits=settings.code_rule_no_all_same_digits,
                           no_simple_runs=settings.code_rule_no_simple_runs,
                           min_unique_digits=settings.code_rule_min_unique_digits)


def code_view(row: Any, states: list[Any]) -> dict[str, Any]:
    per_lock = [{"lock_id": s["lock_id"], "status": s["state"], "updated_at": _iso(s["updated_at"])} for s in states]
    schedule = row["schedule"] if isinstance(row["schedule"], dict) else json.loads(row["schedule"])
    return {
        "id": row["id"], "name": row["name"], "code": row["code"], "purpose": row["purpose"],
        "unit_id": row["unit_id"], "building_id": row["building_id"],
        "lock_ids": [s["lock_id"] for s in states],
        "refs": {"lease_id": row["lease_id"], "request_id": row["request_id"]},
        "resident_id": row["resident_id"], "unlock_notifications": row["unlock_notifications"],
        "schedule": schedule, "timezone": row["timezone"],
        "status": rules.summarise(s["state"] for s in states) if states else "new",
        "deleted": row["deleted"], "removed_at": _iso(row["removed_at"]), "first_used_at": _iso(row["first_used_at"]),
        "lock_status": per_lock, "created_at": _iso(row["created_at"]), "updated_at": _iso(row["updated_at"]),
    }


async def _view(conn: asyncpg.Connection, row: Any) -> dict[str, Any]:
    return code_view(row, await repo.code_lock_states(conn, [row["id"]]))


def _problem(status: int, slug: str, detail: str, field: str | None = None, **extra: Any) -> DomainError:
    """A refused code: 409 (clashes with what is on the lock) or 422 (breaks a rule), naming the field."""
    errors = [{"field": field, "message": detail, "code": slug}] if field else None
    kind = Conflict if status == 409 else InvalidInput
    return kind(detail, code=slug, errors=errors, **extra)


async def _targets(conn: asyncpg.Connection, spec: NewCode) -> tuple[list[Any], str | None, str]:
    """The locks a code goes on (every lock of the listings involved), its building and its time zone."""
    if spec.unit_id is not None:
        unit = await repo.unit(conn, spec.unit_id)
        if unit is None:
            raise _problem(422, "unknown-unit", f"unit {spec.unit_id} is not known", "unit_id")
        chosen = await repo.locks_for_unit(conn, unit_id=spec.unit_id, building_id=unit["building_id"])
        building_id, tz = unit["building_id"], unit["timezone"]
    else:
        chosen = await repo.locks_by_ids(conn, spec.lock_ids)
        missing = sorted(set(spec.lock_ids) - {r["id"] for r in chosen})
        if missing:
            raise _problem(422, "unknown-lock", f"unknown lock ids: {', '.join(missing)}", "lock_ids")
        buildings = {r["building_id"] for r in chosen}
        building_id = buildings.pop() if len(buildings) == 1 else None
        b = await repo.building(conn, building_id) if building_id else None
        tz = b["timezone"] if b else None
    unlinked = [r["id"] for r in chosen if r["listing_id"] is None]
    if unlinked:
        raise _problem(422, "lock-not-placed", f"locks not mapped to a unit or building yet: {', '.join(unlinked)}",
                       "lock_ids")
    if not chosen:
        raise _problem(422, "no-locks", "there is no lock to put this code on",
                       "unit_id" if spec.unit_id else "lock_ids")
    # seed 001 programs whole listings: the code lands on every lock linked to the chosen locks' listings
    listing_ids = {r["listing_id"] for r in chosen}
    every = {r["id"]: r for r in chosen}
    for listing_id in listing_ids:
        listing = await repo.listing(conn, listing_id)
        if listing is not None:
            for r in await repo.locks_of_listing(conn, listing_id):
                every[r["id"]] = r
            tz = tz or listing["timezone"]
    return sorted(every.values(), key=lambda r: r["id"]), building_id, tz or "UTC"


async def issue_code(tx: Tx, *, spec: NewCode, settings: Settings, strict: bool = True) -> asyncpg.Record | None:
    """Validate and store a code with its per-lock rows and a `created` fact (in the caller's transaction).

    `strict` (the API) refuses a code on a lock without a free slot; automations issue it anyway and the
    lock's state shows the failure. None when an automation's code already exists (redelivery).
    """
    conn, org_id = tx.conn, tx.org_id
    locks, building_id, tz = await _targets(conn, spec)
    lengths = {(r["code_length_min"], r["code_length_max"]) for r in locks}
    lo, hi = max(a for a, _ in lengths), min(b for _, b in lengths)
    await repo.lock_code_locks_for_update(conn, [r["id"] for r in locks])
    existing = await repo.codes_on_locks(conn, [r["id"] for r in locks])
    if spec.code is None:
        if lo > hi:
            raise _problem(422, "code-length", "the target locks take codes of different lengths", "lock_ids")
        length = min(max(settings.generated_code_length, lo), hi)
        code = rules.generate(length, code_rules(settings), {e["code"] for e in existing})
    else:
        code = spec.code
        if (why := rules.format_problem(code)) is not None:
            raise _problem(422, "invalid-code", why, "code")
        if not lo <= len(code) <= hi:
            raise _problem(422, "code-length", f"the target locks take codes of {lo}..{hi} digits", "code",
                           allowed_lengths=[lo, hi])
        if (why := rules.weakness(code, code_rules(settings))) is not None:
            raise _problem(422, "weak-code", f"code refused: {why}", "code")
        dupes = sorted({e["lock_id"] for e in existing if e["code"] == code})
        if dupes:
            raise _problem(409, "duplicate_code_on_lock", f"this code is already on locks {', '.join(dupes)}",
                           "code", lock_ids=dupes)
    if strict:
        used: dict[str, int] = {}
        for e in existing:
            used[e["lock_id"]] = used.get(e["lock_id"], 0) + 1
        full = [r["id"] for r in locks if used.get(r["id"], 0) >= r["max_codes"]]
        if full:
            raise _problem(409, "no_space_on_lock", f"no free code slot on locks {', '.join(full)}", "lock_ids",
                           lock_ids=full)
    row = await repo.insert_code(
        conn, code_id=new_id("code"), org_id=org_id, name=spec.name, code=code, purpose=spec.purpose,
        unit_id=spec.unit_id, building_id=building_id, lease_id=spec.lease_id, request_id=spec.request_id,
        resident_id=spec.resident_id, unlock_notifications=spec.unlock_notifications,
        schedule=spec.schedule.model_dump(mode="json", exclude_none=True), timezone=tz)
    if row is None:
        return None
    await repo.insert_code_targets(conn, code_id=row["id"], org_id=org_id,
                                   targets=[(r["id"], r["listing_id"]) for r in locks])
    await tx.emit(AccessCodeCreated(
        org_id=org_id, access_code_id=row["id"], purpose=row["purpose"], name=row["name"],
        refs=CodeRefs(lease_id=row["lease_id"], request_id=row["request_id"]),
        lock_ids=[r["id"] for r in locks], unit_id=row["unit_id"]), subject=row["id"])
    return row


async def create_code(tx: Tx, *, spec: NewCode, settings: Settings) -> dict[str, Any]:
    row = await issue_code(tx, spec=spec, settings=settings)
    if row is None:
        raise _problem(409, "duplicate-code-for-reference", "a code for this lease resident or request already exists")
    return await _view(tx.conn, row)


async def get_code(tx: Tx, *, code_id: str) -> dict[str, Any]:
    row = await repo.code(tx.conn, code_id)
    if row is None:
        raise NotFound.of("access code", code_id)
    return await _view(tx.conn, row)


async def list_codes(tx: Tx, *, page: PageParams, unit_id: str | None, lock_id: str | None,
                     purpose: str | None, lease_id: str | None, request_id: str | None,
                     include_removed: bool) -> tuple[list[dict[str, Any]], int]:
    conn = tx.conn
    rows, total = await repo.list_codes(conn, unit_id=unit_id, lock_id=lock_id, purpose=purpose, lease_id=lease_id,
                                        request_id=request_id, include_removed=include_removed, limit=page.limit,
                                        offset=page.offset)
    states = await repo.code_lock_states(conn, [r["id"] for r in rows])
    by_code: dict[str, list[Any]] = {}
    for s in states:
        by_code.setdefault(s["code_id"], []).append(s)
    return [code_view(r, by_code.get(r["id"], [])) for r in rows], total


async def change_code(tx: Tx, *, code_id: str, name: str, schedule: Schedule,
                      unlock_notifications: str | None) -> dict[str, Any]:
    """Rename or reschedule a code (its digits and locks stay); the scheduler reprograms it."""
    conn, org_id = tx.conn, tx.org_id
    row = await repo.code(conn, code_id, for_update=True)
    if row is None:
        raise NotFound.of("access code", code_id)
    if row["deleted"]:
        raise _problem(409, "code-deleted", f"access code {code_id} is being removed")
    row = await repo.update_code(conn, code_id, name=name, schedule=schedule.model_dump(mode="json", exclude_none=True),
                                 unlock_notifications=unlock_notifications)
    await repo.wake_code_listings(conn, code_id)
    await tx.emit(AccessCodeUpdated(
        org_id=org_id, access_code_id=code_id, purpose=row["purpose"], name=row["name"],
        refs=CodeRefs(lease_id=row["lease_id"], request_id=row["request_id"])), subject=code_id)
    return await _view(conn, row)


async def remove_code(tx: Tx, *, code_id: str) -> dict[str, Any]:
    """Ask for a code's removal from every lock (`deleted` is true until each lock confirms)."""
    conn, org_id = tx.conn, tx.org_id
    row = await repo.code(conn, code_id, for_update=True)
    if row is None:
        raise NotFound.of("access code", code_id)
    if not row["deleted"]:
        await repo.mark_code_deleted(conn, code_id)
        await tx.emit(AccessCodeDeleted(
            org_id=org_id, access_code_id=code_id, purpose=row["purpose"],
            refs=CodeRefs(lease_id=row["lease_id"], request_id=row["request_id"])), subject=code_id)
        row = await repo.code(conn, code_id)
    return await _view(conn, row)


# --- the scheduler ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _schedule(raw: str) -> Schedule:
    """Parsed schedules, remembered: the scheduler looks at every code on every pass."""
    return Schedule.model_validate_json(raw)


def desired_program(row: Any, now: datetime) -> dict[str, Any] | None:
    """What should be on the vendor for this code now: None (nothing), manual, or the current window."""
    if row["deleted"]:
        return None
    schedule = _schedule(row["schedule"] if isinstance(row["schedule"], str) else json.dumps(row["schedule"]))
    if schedule.manual is not None:
        return {"manual": "activated"} if schedule.manual == "activated" else None
    window = window_at(schedule, row["code_timezone"], now)
    if window is None:
        return None
    start, end = window
    return {"start": start.isoformat(), "end": end.isoformat() if end else None}


def _vendor_schedule(program: dict[str, Any]) -> CodeSchedule:
    if "manual" in program:
        return CodeSchedule(manual=program["manual"])
    return CodeSchedule(start=datetime.fromisoformat(program["start"]),
                        end=datetime.fromisoformat(program["end"]) if program["end"] else None)


async def _set_states(tx: Tx, row: Any, state: str, *, only_from: set[str] | None = None) -> None:
    for cl in await repo.code_locks_of_listing(tx.conn, code_id=row["code_id"], listing_id=row["listing_id"]):
        if only_from is not None and cl["state"] not in only_from:
            continue
        await _set_state(tx, row, cl["lock_id"], state)


async def _set_state(tx: Tx, row: Any, lock_id: str, state: str) -> None:
    if await repo.set_code_lock_state(tx.conn, code_id=row["code_id"], lock_id=lock_id, state=state):
        await tx.emit(AccessCodeLockStatusChanged(
            org_id=row["org_id"], access_code_id=row["code_id"], purpose=row["purpose"],
            refs=CodeRefs(lease_id=row["lease_id"], request_id=row["request_id"]),
            lock_id=lock_id, status=state), subject=row["code_id"])


def _due(row: Any, want: dict[str, Any] | None, now: datetime) -> bool:
    """Whether the vendor must be told something about this (code, listing) now."""
    have = row["programmed"] if not isinstance(row["programmed"], str) else json.loads(row["programmed"])
    if want == have or row["gave_up"] or row["next_attempt_at"] > now:
        return False
    return not (want is None and row["vendor_code_id"] is None)


async def _program(hub: VendorHub, drv: Any, row: Any, want: dict[str, Any] | None, *, org_id: str) -> bool:
    """Create, update or delete one (code, listing) at the vendor and record it; False when it failed."""
    try:
        vendor_code_id = row["vendor_code_id"]
        if want is None:
            await drv.delete_code(vendor_code_id)
            removal = True
        elif vendor_code_id is not None and not row["removal_requested"]:
            await drv.update_code(vendor_code_id, timezone=row["listing_timezone"], schedule=_vendor_schedule(want))
            removal = False
        else:
            vendor_code_id = await drv.create_code(
                name=row["code_id"], listing_id=row["vendor_listing_id"], code=row["code"],
                timezone=row["listing_timezone"], schedule=_vendor_schedule(want),
                unlock_notifications=row["unlock_notifications"])
            removal = False
    except VendorError as exc:
        await _failed(hub, row, exc, active=want is not None)
        return False
    async with hub.tx(org_id) as tx:
        await repo.save_code_listing(tx.conn, code_id=row["code_id"], listing_id=row["listing_id"],
                                     vendor_code_id=vendor_code_id, programmed=want, removal_requested=removal)
        await _set_states(tx, row, rules.pending_state(active=want is not None, failed=False))
    return True


async def sync_vendor(hub: VendorHub, *, vendor_id: str, org_id: str) -> None:
    """One scheduler pass over a vendor's codes: program or remove what changed, then read back states."""
    settings = hub.settings
    async with hub.db.transaction(org_id=org_id) as conn:
        vendor = await repo.vendor(conn, vendor_id)
        rows = await repo.sync_rows(conn, vendor_id) if vendor else []
    if vendor is None or not rows:
        return
    drv = hub.driver_for(vendor)
    now = datetime.now(UTC)
    due = [r for r in rows if _due(r, desired_program(r, now), now)]
    # One listing's codes go out in order (its slots are shared); different listings go out side by side,
    # at most `vendor_concurrency` calls at a time: one at a time made 1,000 codes wait ~1,000 round trips.
    by_listing: dict[str, list[Any]] = {}
    for r in due:
        by_listing.setdefault(r["listing_id"], []).append(r)
    gate = asyncio.Semaphore(settings.vendor_concurrency)

    async def program_listing(listing_rows: list[Any]) -> bool:
        done = False
        for row in listing_rows:
            async with gate:
                done = await _program(hub, drv, row, desired_program(row, now), org_id=org_id) or done
        return done

    async with hub.lock_for(vendor_id):
        results = await asyncio.gather(*(program_listing(group) for group in by_listing.values()))
        programmed = any(results)
        # reading every code back is the costly part: only when something changed or waits for a lock,
        # and otherwise now and then (a code removed outside Hearth is noticed and programmed again)
        async with hub.db.transaction(org_id=org_id) as conn:
            pending = await repo.vendor_has_pending_codes(conn, vendor_id)
        last = hub.last_read_back.get(vendor_id, 0.0)
        since = time.monotonic() - last
        # at most one read-back per `code_read_back_min_seconds` while codes wait: it lists every code of the
        # account, so reading back on every pass of a busy scheduler cost O(codes) per pass
        if ((programmed or pending) and since >= settings.code_read_back_min_seconds) \
                or since > settings.status_poll_seconds:
            hub.last_read_back[vendor_id] = time.monotonic()
            await _read_back(hub, drv, vendor_id=vendor_id, org_id=org_id)


async def _failed(hub: VendorHub, row: Any, exc: VendorError, *, active: bool) -> None:
    settings = hub.settings
    attempts = row["attempts"] + 1
    give_up = not exc.retryable or attempts >= settings.code_sync_max_attempts
    delay = rules.retry_delay(attempts, base=settings.code_retry_base_seconds, cap=settings.code_retry_cap_seconds)
    async with hub.tx(row["org_id"]) as tx:
        await repo.code_listing_failed(tx.conn, code_id=row["code_id"], listing_id=row["listing_id"], error=str(exc),
                                       retry_in=delay, give_up=give_up)
        await _set_states(tx, row, rules.pending_state(active=active, failed=True))
        if give_up:
            for cl in await repo.code_locks_of_listing(tx.conn, code_id=row["code_id"], listing_id=row["listing_id"]):
                await tx.emit(AccessCodeSyncFailed(
                    org_id=row["org_id"], access_code_id=row["code_id"], purpose=row["purpose"],
                    refs=CodeRefs(lease_id=row["lease_id"], request_id=row["request_id"]),
                    lock_id=cl["lock_id"], attempts=attempts, error=str(exc)[:500]), subject=row["code_id"])
    log.warning("code sync failed", code_id=row["code_id"], attempts=attempts, gave_up=give_up, error=str(exc))


async def _move(tx: Tx, row: Any, code_lock: Any, state: str) -> None:
    """Set a per-lock state only when it differs from what was read (most passes change nothing)."""
    if code_lock["state"] != state:
        await _set_state(tx, row, code_lock["lock_id"], state)


async def _read_back(hub: VendorHub, drv: Any, *, vendor_id: str, org_id: str) -> None:
    """Per-lock states as the vendor reports them; removal confirmed when the vendor no longer lists a code."""
    async with hub.db.transaction(org_id=org_id) as conn:
        rows = await repo.sync_rows(conn, vendor_id)
    if not rows:
        return
    try:
        listed = {c.code_id: c for c in await drv.list_codes()}
    except VendorError as exc:
        log.warning("could not read code states", vendor_id=vendor_id, error=str(exc))
        return
    async with hub.tx(org_id) as tx:
        conn = tx.conn
        by_pair: dict[tuple[str, str], list[Any]] = {}
        for cl in await repo.code_locks_of_codes(conn, sorted({r["code_id"] for r in rows})):
            by_pair.setdefault((cl["code_id"], cl["listing_id"]), []).append(cl)
        for row in rows:
            locks = by_pair.get((row["code_id"], row["listing_id"]), [])
            if row["vendor_code_id"] is None:
                if row["deleted"] or (row["programmed"] is None and any(cl["state"] != "new" for cl in locks)):
                    for cl in locks:
                        if cl["state"] not in ("deactivation_pending_with_failure", "activation_pending_with_failure") \
                                or row["deleted"]:
                            await _move(tx, row, cl, "deactivated")
                continue
            found = listed.get(row["vendor_code_id"])
            if found is None:
                if row["removal_requested"] or row["deleted"]:
                    await repo.save_code_listing(conn, code_id=row["code_id"], listing_id=row["listing_id"],
                                                 vendor_code_id=None, programmed=None, removal_requested=False)
                    for cl in locks:
                        await _move(tx, row, cl, "deactivated")
                else:  # removed outside Hearth: program it again on the next pass
                    await repo.save_code_listing(conn, code_id=row["code_id"], listing_id=row["listing_id"],
                                                 vendor_code_id=None, programmed=None, removal_requested=False)
                continue
            for cl in locks:
                state = found.lock_status.get(cl["vendor_lock_id"])
                if state in rules.CODE_STATES:
                    await _move(tx, row, cl, state)


async def settle_removals(hub: VendorHub) -> None:
    """Deleted codes whose every lock confirmed → removed; ended leases with no code left → access cleared."""
    async with hub.db.system_transaction() as conn:
        pending = await conn.fetch("SELECT id, org_id FROM access_codes WHERE deleted AND removed_at IS NULL")
        orgs = {r["org_id"] for r in await conn.fetch(
            "SELECT DISTINCT org_id FROM lease_clearances WHERE cleared_at IS NULL")}
    for r in pending:
        async with hub.tx(r["org_id"]) as tx:
            conn = tx.conn
            if not await repo.all_code_locks_done(conn, r["id"]):
                continue
            row = await repo.code(conn, r["id"], for_update=True)
            if row is None or row["removed_at"] is not None:
                continue
            await repo.mark_code_removed(conn, r["id"])
            await tx.emit(AccessCodeRemoved(
                org_id=r["org_id"], access_code_id=r["id"], purpose=row["purpose"],
                refs=CodeRefs(lease_id=row["lease_id"], request_id=row["request_id"]), removed_at=datetime.now(UTC)),
                subject=r["id"])
        orgs.add(r["org_id"])
    for org_id in orgs:
        async with hub.tx(org_id) as tx:
            for lease in await repo.clearable_leases(tx.conn):
                cleared_at = await repo.mark_cleared(tx.conn, lease["lease_id"])
                await tx.emit(UnitAccessCleared(org_id=org_id, unit_id=lease["unit_id"], lease_id=lease["lease_id"],
                                                cleared_at=cleared_at), subject=lease["unit_id"])


async def sync_pass(hub: VendorHub) -> None:
    """The scheduler's pass over every vendor, then removals and lease clearances."""
    async with hub.db.system_transaction() as conn:
        vendors = await repo.all_vendors(conn)
    for v in vendors:
        try:
            await sync_vendor(hub, vendor_id=v["id"], org_id=v["org_id"])
        except Exception:
            log.exception("code sync failed", vendor_id=v["id"])
    await settle_removals(hub)


async def wait_or_wake(event: asyncio.Event, seconds: float) -> None:
    """Sleep until the next pass is due or someone asks for one sooner."""
    try:
        await asyncio.wait_for(event.wait(), seconds)
    except TimeoutError:
        pass
    event.clear()
