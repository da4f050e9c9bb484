"""Building lockdown: lock every lock of a building, remember each one's state, restore it on lift."""

from __future__ import annotations

from typing import Any

import asyncpg
from hearth_contracts.access import LockdownLifted, LockdownStarted
from hearth_kit.errors import Conflict, NotFound
from hearth_kit.ids import new_id
from hearth_kit.tx import Tx

from hearth_access import repository as repo
from hearth_access.service.commands import attempt_view, issue
from hearth_access.service.vendors import _iso


async def _view(conn: asyncpg.Connection, lockdown: Any) -> dict[str, Any]:
    locks = await repo.lockdown_locks(conn, lockdown["id"])
    attempts = await repo.attempts_of_lockdown(conn, lockdown["id"])
    return {"id": lockdown["id"], "building_id": lockdown["building_id"], "status": lockdown["status"],
            "started_at": _iso(lockdown["started_at"]), "lifted_at": _iso(lockdown["lifted_at"]),
            "locks": [{"lock_id": r["lock_id"], "previous_state": r["previous_state"],
                       "lock_attempt_id": r["lock_attempt_id"], "restore_attempt_id": r["restore_attempt_id"]}
                      for r in locks],
            "action_attempts": [attempt_view(a) for a in attempts]}


async def _building(conn: asyncpg.Connection, building_id: str) -> None:
    if await repo.building(conn, building_id) is None and not await repo.locks_of_building(conn, building_id):
        raise NotFound.of("building", building_id)


async def start(tx: Tx, *, building_id: str, ttl_seconds: float) -> dict[str, Any]:
    """Order every lock of the building locked (one attempt each); 409 while a lockdown is active."""
    conn, org_id, subject = tx.conn, tx.org_id, tx.caller.subject
    await _building(conn, building_id)
    if await repo.active_lockdown(conn, building_id) is not None:
        raise Conflict(f"building {building_id} is already in lockdown", code="lockdown-active")
    lockdown = await repo.insert_lockdown(conn, lockdown_id=new_id("ldn"), org_id=org_id,
                                          building_id=building_id)
    attempt_ids = []
    for lock in await repo.locks_of_building(conn, building_id):
        attempt = await issue(tx, lock=lock, action="lock", ttl_seconds=ttl_seconds, requested_by=subject,
                              lockdown_id=lockdown["id"])
        await repo.insert_lockdown_lock(conn, lockdown_id=lockdown["id"], org_id=org_id, lock_id=lock["id"],
                                        previous_state=lock["state"], attempt_id=attempt["id"])
        attempt_ids.append(attempt["id"])
    await tx.emit(LockdownStarted(org_id=org_id, lockdown_id=lockdown["id"], building_id=building_id,
                                  action_attempt_ids=attempt_ids), subject=building_id)
    return await _view(conn, lockdown)


async def lift(tx: Tx, *, building_id: str, ttl_seconds: float) -> dict[str, Any]:
    """End the lockdown: locks that were unlocked before it are ordered unlocked again."""
    conn, org_id, subject = tx.conn, tx.org_id, tx.caller.subject
    await _building(conn, building_id)
    lockdown = await repo.active_lockdown(conn, building_id)
    if lockdown is None:
        raise Conflict(f"building {building_id} is not in lockdown", code="no-active-lockdown")
    restores: dict[str, str] = {}
    for remembered in await repo.lockdown_locks(conn, lockdown["id"]):
        if remembered["previous_state"] != "unlocked":
            continue
        lock = await repo.lock(conn, remembered["lock_id"])
        if lock is None:
            continue
        attempt = await issue(tx, lock=lock, action="unlock", ttl_seconds=ttl_seconds, requested_by=subject,
                              lockdown_id=lockdown["id"])
        restores[lock["id"]] = attempt["id"]
    lockdown = await repo.lift_lockdown(conn, lockdown["id"], restores)
    await tx.emit(LockdownLifted(org_id=org_id, lockdown_id=lockdown["id"], building_id=building_id,
                                 action_attempt_ids=list(restores.values())), subject=building_id)
    return await _view(conn, lockdown)


async def current(tx: Tx, *, building_id: str) -> dict[str, Any]:
    lockdown = await repo.latest_lockdown(tx.conn, building_id)
    if lockdown is None:
        raise NotFound.of("lockdown of building", building_id)
    return await _view(tx.conn, lockdown)
