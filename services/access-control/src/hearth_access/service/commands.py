"""Lock and unlock commands: an action attempt per command, carried out by the bridge exactly once.

Flow: the API writes the attempt (pending) and a `LockDoor`/`UnlockDoor` command to the outbox in one
transaction; the relay puts it on `access.commands`; the bridge consumer claims the attempt in its own
committed transaction *before* calling the vendor, calls it, then records success or error with a fact.
A redelivered command (or one seen again after the bridge died mid-call) finds the attempt claimed or
finished and never calls the vendor a second time; an attempt claimed by a bridge that died is settled by
the sweeper from the lock's reported state. Nothing stays pending past its expiry (+ one vendor timeout).
"""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from hearth_contracts.access import (
    ActionAttemptFailed,
    ActionAttemptSucceeded,
    LockDoor,
    LockLocked,
    LockUnlocked,
    UnlockDoor,
)
from hearth_kit.errors import DomainError, NotFound
from hearth_kit.ids import new_id
from hearth_kit.logging import get_logger
from hearth_kit.pagination import PageParams
from hearth_kit.tx import Tx

from hearth_access import repository as repo
from hearth_access.service.vendors import Steps, VendorHub, _iso
from hearth_access.vendor.driver import VendorConflict, VendorError, VendorTimeout

log = get_logger(__name__)


class TooManyCommands(DomainError):
    """A lock got more commands of one kind in the last minute than its guardrail allows (→ 429)."""

    code = "lock-command-rate-limited"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.retry_after = retry_after


def attempt_view(row: Any) -> dict[str, Any]:
    error = None if row["error_type"] is None else {"type": row["error_type"], "message": row["error_message"]}
    return {"id": row["id"], "action_type": f"{row['action'].upper()}_DOOR", "action": row["action"],
            "lock_id": row["lock_id"], "status": row["status"], "error": error,
            "lockdown_id": row["lockdown_id"], "created_at": _iso(row["created_at"]),
            "expires_at": _iso(row["expires_at"]), "finished_at": _iso(row["finished_at"])}


async def issue(tx: Tx, *, lock: Any, action: str, ttl_seconds: float, requested_by: str | None,
                lockdown_id: str | None = None) -> asyncpg.Record:
    """Write an attempt and its command (in the caller's transaction)."""
    expires_at = datetime.now(UTC) + timedelta(seconds=ttl_seconds)
    row = await repo.insert_attempt(tx.conn, attempt_id=new_id("act"), org_id=tx.org_id, lock_id=lock["id"],
                                    action=action, expires_at=expires_at, requested_by=requested_by,
                                    lockdown_id=lockdown_id)
    command_type = LockDoor if action == "lock" else UnlockDoor
    await tx.emit(command_type(org_id=tx.org_id, action_attempt_id=row["id"], lock_id=lock["id"],
                               expires_at=expires_at), subject=lock["id"])
    return row


async def request_action(tx: Tx, *, lock_id: str, action: str, ttl_seconds: float,
                         per_minute: int) -> dict[str, Any]:
    """POST /v1/locks/{id}/lock|unlock: a pending attempt, or TooManyCommands past the lock's guardrail."""
    lock = await repo.lock(tx.conn, lock_id, for_update=True)  # row lock: guardrail counts see each other
    if lock is None:
        raise NotFound.of("lock", lock_id)
    count, oldest = await repo.recent_attempts(tx.conn, lock_id=lock_id, action=action, seconds=60)
    if count >= per_minute:
        wait = 60 - (datetime.now(UTC) - oldest).total_seconds() if oldest else 60
        raise TooManyCommands(f"lock {lock_id} got {count} {action} commands in the last minute (limit {per_minute})",
                              retry_after=max(1, math.ceil(wait)))
    row = await issue(tx, lock=lock, action=action, ttl_seconds=ttl_seconds, requested_by=tx.caller.subject)
    return attempt_view(row)


async def get_attempt(hub: VendorHub, read: Steps[Any], *, attempt_id: str, wait: float) -> dict[str, Any]:
    """One attempt; with `wait`, hold the call until it finishes or `wait` seconds pass (long-poll).

    Woken at once when this process ends the attempt (the fast path runs where the command was
    accepted); otherwise it looks again every 100 ms (another replica's bridge, or the sweeper)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    waiter = hub.attempt_waiters.setdefault(attempt_id, asyncio.Event()) if wait > 0 else None
    try:
        while True:
            row = await read(lambda tx: repo.attempt(tx.conn, attempt_id))
            if row is None:
                raise NotFound.of("action attempt", attempt_id)
            if row["status"] != "pending" or loop.time() >= deadline or waiter is None:
                return attempt_view(row)
            try:
                await asyncio.wait_for(waiter.wait(), min(0.1, max(0.0, deadline - loop.time())))
            except TimeoutError:
                pass
    finally:
        if waiter is not None and hub.attempt_waiters.get(attempt_id) is waiter:
            del hub.attempt_waiters[attempt_id]


async def list_attempts(tx: Tx, *, lock_id: str | None, status: str | None,
                        page: PageParams) -> tuple[list[dict[str, Any]], int]:
    rows, total = await repo.list_attempts(tx.conn, lock_id=lock_id, status=status, limit=page.limit,
                                           offset=page.offset)
    return [attempt_view(r) for r in rows], total


async def finish(tx: Tx, *, attempt: Any, lock: Any, error_type: str | None, error_message: str | None) -> bool:
    """Record an attempt's outcome and its facts (once); False when it had already ended."""
    conn = tx.conn
    row = await repo.finish_attempt(conn, attempt["id"], error_type=error_type, error_message=error_message)
    if row is None:
        return False
    org_id = row["org_id"]
    if error_type is None:
        await tx.emit(ActionAttemptSucceeded(
            org_id=org_id, action_attempt_id=row["id"], lock_id=row["lock_id"], action=row["action"],
            finished_at=row["finished_at"]), subject=row["id"])
        state = "locked" if row["action"] == "lock" else "unlocked"
        if lock is not None and lock["state"] != state:
            await repo.set_lock_state(conn, lock["id"], state)
            fact = LockLocked if state == "locked" else LockUnlocked
            await tx.emit(fact(
                org_id=org_id, lock_id=lock["id"], building_id=lock["building_id"] or "", unit_id=lock["unit_id"],
                battery_pct=lock["battery_pct"], at=row["finished_at"], method="app", action_attempt_id=row["id"]),
                subject=lock["id"])
    else:
        await tx.emit(ActionAttemptFailed(
            org_id=org_id, action_attempt_id=row["id"], lock_id=row["lock_id"], action=row["action"],
            error_type=error_type, error_message=error_message or error_type, finished_at=row["finished_at"]),
            subject=row["id"])
    return True


def classify(exc: VendorError) -> tuple[str, str]:
    """A vendor failure as an attempt's error type."""
    if isinstance(exc, VendorTimeout):
        return "lock_offline", "the lock did not answer (offline or out of range)"
    if isinstance(exc, VendorConflict) and "jam" in str(exc).lower():
        return "lock_jammed", "the lock reports that its bolt is jammed"
    return "vendor_error", str(exc)[:500]


def dispatch(hub: VendorHub, *, org_id: str, attempt_ids: list[str]) -> None:
    """Carry out freshly committed attempts in this process at once (the fast path).

    The same commands are on `access.commands` too: whichever of this task and the bridge claims an
    attempt first calls the vendor, the other finds it claimed. So a process that dies right after the
    202 loses nothing (the bridge takes it), and nothing runs twice. Without this, every unlock waited for
    the outbox relay, Kafka and the consumer's pickup before the vendor was even called."""
    for attempt_id in attempt_ids:
        task = asyncio.create_task(_execute_logged(hub, org_id=org_id, attempt_id=attempt_id),
                                   name=f"attempt-{attempt_id}")
        hub.background.add(task)
        task.add_done_callback(hub.background.discard)


async def _execute_logged(hub: VendorHub, *, org_id: str, attempt_id: str) -> None:
    try:
        await execute(hub, org_id=org_id, attempt_id=attempt_id)
    except Exception:  # the bridge's delivery (unclaimed) or the sweeper (claimed) ends it instead
        log.exception("in-process command failed; the bridge or the sweeper will end it", attempt_id=attempt_id)


async def execute_command(hub: VendorHub, command: LockDoor | UnlockDoor) -> None:
    """The bridge: one command from access.commands (a no-op when the fast path already took it).

    It runs in its own transactions, not the consumer's: the claim must be committed *before* the vendor
    call, which the inbox (committed together with the handler's effects) cannot do."""
    await execute(hub, org_id=command.org_id, attempt_id=command.action_attempt_id)


async def execute(hub: VendorHub, *, org_id: str, attempt_id: str) -> None:
    """Carry out one attempt, at most once: claim it (committed) before calling the vendor."""
    async with hub.tx(org_id) as tx:
        conn = tx.conn
        claimed = await repo.claim_attempt(conn, attempt_id)
        if claimed is None:
            row = await repo.attempt(conn, attempt_id)
            if row is not None and row["status"] == "pending" and row["claimed_at"] is None:
                # arrived too late: the attempt expired before anyone could carry it out
                await finish(tx, attempt=row, lock=None, error_type="action_attempt_expired",
                             error_message="the command expired before it could be sent to the lock")
            return  # claimed or finished by an earlier delivery: never call the vendor twice
        lock = await repo.lock(conn, claimed["lock_id"])
        vendor = await repo.vendor(conn, lock["vendor_id"]) if lock is not None else None
    if lock is None or vendor is None:
        async with hub.tx(org_id) as tx:
            await finish(tx, attempt=claimed, lock=None, error_type="vendor_error", error_message="lock is gone")
        hub.attempt_finished(claimed["id"])
        return
    drv = hub.driver_for(vendor)
    error: tuple[str, str] | None = None
    try:
        if claimed["action"] == "lock":
            await drv.lock(lock["vendor_lock_id"])
        else:
            await drv.unlock(lock["vendor_lock_id"])
    except VendorError as exc:
        error = classify(exc)
    async with hub.tx(org_id) as tx:
        current = await repo.lock(tx.conn, lock["id"], for_update=True)
        if error is not None and error[0] == "lock_jammed" and current is not None and current["state"] != "jammed":
            await repo.set_lock_state(tx.conn, lock["id"], "jammed")
        await finish(tx, attempt=claimed, lock=current, error_type=error[0] if error else None,
                     error_message=error[1] if error else None)
    hub.attempt_finished(claimed["id"])


async def sweep_expired(hub: VendorHub) -> int:
    """End attempts past expiry: unclaimed → action_attempt_expired; claimed by a bridge that never came
    back → settled from the lock's reported state (success if it is where it was asked to go)."""
    grace = hub.settings.vendor_timeout_seconds * hub.settings.vendor_attempts
    async with hub.db.system_transaction() as conn:
        rows = await repo.expired_attempts(conn, grace_seconds=grace)
    for r in rows:
        try:
            await _settle(hub, r["org_id"], r["id"], claimed=r["claimed_at"] is not None)
        except Exception:
            log.exception("could not settle an expired attempt", attempt_id=r["id"])
    return len(rows)


async def _settle(hub: VendorHub, org_id: str, attempt_id: str, *, claimed: bool) -> None:
    async with hub.db.transaction(org_id=org_id) as conn:
        row = await repo.attempt(conn, attempt_id)
        lock = await repo.lock(conn, row["lock_id"]) if row else None
        vendor = await repo.vendor(conn, lock["vendor_id"]) if lock else None
    if row is None or row["status"] != "pending":
        return
    error: tuple[str, str] | None = ("action_attempt_expired", "the lock did not confirm in time")
    if claimed and lock is not None and vendor is not None:
        try:
            status = await hub.driver_for(vendor).lock_status(lock["vendor_lock_id"])
        except VendorError:
            status = []
        wanted = "locked" if row["action"] == "lock" else "unlocked"
        if status and status[0].state == wanted:
            error = None
    async with hub.tx(org_id) as tx:
        current = await repo.lock(tx.conn, row["lock_id"], for_update=True) if lock else None
        await finish(tx, attempt=row, lock=current, error_type=error[0] if error else None,
                     error_message=error[1] if error else None)
    hub.attempt_finished(attempt_id)
