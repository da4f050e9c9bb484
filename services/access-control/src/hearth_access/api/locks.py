"""Locks, lock/unlock commands, action attempts, lock events, building lockdown."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query
from fastapi.responses import JSONResponse
from hearth_kit.api import api_router
from hearth_kit.calls import Call, Reader, Writer, single, with_roles
from hearth_kit.pagination import Pagination, page_response

from hearth_access.api.common import IDEMPOTENT_202, Hub, accepted_once, id_path, problems
from hearth_access.api.models import AttemptOut, LockdownOut, LockEventOut, LockOut, Moment, One, Page
from hearth_access.service import commands, lockdown
from hearth_access.service import locks as svc

router = api_router(prefix="/v1", tags=["locks"])
IdQuery = Annotated[str | None, Query(max_length=64, pattern=r"^[a-z]{2,6}_[0-9a-z]{1,40}$")]
Manager = Annotated[Call, with_roles("admin", "manager")]


@router.get("/locks", response_model=Page[LockOut], responses=problems(422))
async def list_locks(
    call: Reader, page: Pagination, building_id: IdQuery = None, unit_id: IdQuery = None,
    state: Annotated[Literal["locked", "unlocked", "jammed", "unknown"] | None, Query()] = None,
    online: Annotated[bool | None, Query()] = None,
    battery_below: Annotated[int | None, Query(ge=0, le=101, description="Battery % below this")] = None,
) -> JSONResponse:
    """The org's locks, by name."""
    items, total = await call.read(lambda tx: svc.list_locks(
        tx, page=page, building_id=building_id, unit_id=unit_id, state=state, online=online,
        battery_below=battery_below))
    return page_response(items, total=total, params=page)


@router.get("/locks/{lock_id}", response_model=One[LockOut], responses=problems(404))
async def get_lock(call: Reader, lock_id: str = id_path()) -> JSONResponse:
    """One lock: state, battery, online, code limits."""
    return single(await call.read(lambda tx: svc.get_lock(tx, lock_id=lock_id)))


async def _command(action: str, lock_id: str, call: Call, hub: Hub) -> JSONResponse:
    s = hub.settings
    return await accepted_once(
        call, request_body={"lock_id": lock_id, "action": action},
        run=lambda tx: commands.request_action(tx, lock_id=lock_id, action=action,
                                               ttl_seconds=s.action_attempt_ttl_seconds,
                                               per_minute=s.guardrail_per_minute),
        committed=lambda doc: commands.dispatch(hub, org_id=call.principal.org_id, attempt_ids=[doc["id"]]))


@router.post("/locks/{lock_id}/lock", status_code=202, response_model=One[AttemptOut], operation_id="lockLock",
             responses=problems(403, 404, 422, 429), openapi_extra=IDEMPOTENT_202)
async def lock_lock(call: Writer, hub: Hub, lock_id: str = id_path()) -> JSONResponse:
    """Lock it: 202 with a pending action attempt (follow it at /v1/action-attempts/{id}?wait=5)."""
    return await _command("lock", lock_id, call, hub)


@router.post("/locks/{lock_id}/unlock", status_code=202, response_model=One[AttemptOut], operation_id="unlockLock",
             responses=problems(403, 404, 422, 429), openapi_extra=IDEMPOTENT_202)
async def unlock_lock(call: Writer, hub: Hub, lock_id: str = id_path()) -> JSONResponse:
    """Unlock it: 202 with a pending action attempt."""
    return await _command("unlock", lock_id, call, hub)


@router.get("/action-attempts", response_model=Page[AttemptOut], operation_id="listActionAttempts",
            responses=problems(422))
async def list_attempts(call: Reader, page: Pagination, lock_id: IdQuery = None,
                        status: Annotated[Literal["pending", "success", "error"] | None, Query()] = None,
                        ) -> JSONResponse:
    """Recent action attempts, newest first."""
    items, total = await call.read(lambda tx: commands.list_attempts(tx, lock_id=lock_id, status=status, page=page))
    return page_response(items, total=total, params=page)


@router.get("/action-attempts/{attempt_id}", response_model=One[AttemptOut], operation_id="getActionAttempt",
            responses=problems(404, 422))
async def get_attempt(call: Reader, hub: Hub, attempt_id: str = id_path(),
                      wait: Annotated[float, Query(ge=0, le=30, description="Long-poll seconds")] = 0,
                      ) -> JSONResponse:
    """One action attempt; `wait` holds the answer until it is no longer pending (or the time is up)."""
    wait = min(wait, hub.settings.long_poll_max_seconds)
    return single(await commands.get_attempt(hub, call.read, attempt_id=attempt_id, wait=wait))


@router.get("/lock-events", response_model=Page[LockEventOut], operation_id="listLockEvents", responses=problems(422))
async def list_lock_events(
    call: Reader, page: Pagination, lock_id: IdQuery = None,
    type: Annotated[Literal["locked", "unlocked", "jammed", "tampered", "battery_low", "offline", "online"] | None,
                    Query()] = None,
    since: Annotated[Moment | None, Query(description="From (RFC 3339, inclusive)")] = None,
    until: Annotated[Moment | None, Query(description="Until (RFC 3339, exclusive)")] = None,
) -> JSONResponse:
    """What the locks reported, newest first."""
    items, total = await call.read(lambda tx: svc.list_events(tx, page=page, lock_id=lock_id, type_=type,
                                                              since=since, until=until))
    return page_response(items, total=total, params=page)


def _dispatch_group(hub: Hub, org_id: str, lockdown_doc: dict[str, Any]) -> None:
    pending = [a["id"] for a in lockdown_doc["action_attempts"] if a["status"] == "pending"]
    commands.dispatch(hub, org_id=org_id, attempt_ids=pending)


@router.post("/buildings/{building_id}/lockdown", status_code=202, response_model=One[LockdownOut],
             operation_id="startLockdown", responses=problems(403, 404, 409, 422), openapi_extra=IDEMPOTENT_202)
async def start_lockdown(call: Manager, hub: Hub, building_id: str = id_path()) -> JSONResponse:
    """Lock every lock of the building (one action attempt each), remembering each lock's state."""
    return await accepted_once(
        call, request_body={"lockdown": building_id},
        run=lambda tx: lockdown.start(tx, building_id=building_id, ttl_seconds=hub.settings.action_attempt_ttl_seconds),
        committed=lambda doc: _dispatch_group(hub, call.principal.org_id, doc))


@router.post("/buildings/{building_id}/lockdown/lift", status_code=202, response_model=One[LockdownOut],
             operation_id="liftLockdown", responses=problems(403, 404, 409, 422), openapi_extra=IDEMPOTENT_202)
async def lift_lockdown(call: Manager, hub: Hub, building_id: str = id_path()) -> JSONResponse:
    """End the lockdown: locks that were unlocked before it are unlocked again."""
    return await accepted_once(
        call, request_body={"lift": building_id},
        run=lambda tx: lockdown.lift(tx, building_id=building_id, ttl_seconds=hub.settings.action_attempt_ttl_seconds),
        committed=lambda doc: _dispatch_group(hub, call.principal.org_id, doc))


@router.get("/buildings/{building_id}/lockdown", response_model=One[LockdownOut], operation_id="getLockdown",
            responses=problems(404, 422))
async def get_lockdown(call: Reader, building_id: str = id_path()) -> JSONResponse:
    """The building's latest lockdown with its action attempts."""
    return single(await call.read(lambda tx: lockdown.current(tx, building_id=building_id)))
