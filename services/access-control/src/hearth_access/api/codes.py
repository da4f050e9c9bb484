"""Access codes (PINs) with schedules and per-lock states."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from fastapi.responses import JSONResponse
from hearth_kit.api import api_router
from hearth_kit.calls import Reader, Writer, single
from hearth_kit.pagination import Pagination, page_response

from hearth_access.api.common import Hub, id_path, problems
from hearth_access.api.models import CodeIn, CodeOut, CodeUpdateIn, One, Page, Purpose
from hearth_access.service import codes as svc
from hearth_access.service.projection import wait_for_unit

router = api_router(prefix="/v1/access-codes", tags=["access codes"])
IdQuery = Annotated[str | None, Query(max_length=64, pattern=r"^[a-z]{2,6}_[0-9a-z]{1,40}$")]


@router.post("", status_code=201, response_model=One[CodeOut], operation_id="createAccessCode",
             responses=problems(403, 409, 422))
async def create_code(body: CodeIn, call: Writer, hub: Hub) -> JSONResponse:
    """Issue a code on a unit's locks (and its building's common doors) or on given locks."""
    if body.unit_id is not None:  # a unit from property may be a moment ahead of its event
        await wait_for_unit(call.read, unit_id=body.unit_id, wait=hub.settings.projection_wait_seconds)
    spec = svc.NewCode(name=body.name, purpose=body.purpose, schedule=body.schedule, code=body.code,
                       unit_id=body.unit_id, lock_ids=tuple(body.lock_ids or ()), lease_id=body.refs.lease_id,
                       request_id=body.refs.request_id, unlock_notifications=body.unlock_notifications)
    response = await call.create_once(body, lambda tx: svc.create_code(tx, spec=spec, settings=hub.settings))
    hub.wake_sync()
    return response


@router.get("", response_model=Page[CodeOut], operation_id="listAccessCodes", responses=problems(422))
async def list_codes(call: Reader, page: Pagination, unit_id: IdQuery = None,
                     lock_id: IdQuery = None, purpose: Annotated[Purpose | None, Query()] = None,
                     lease_id: IdQuery = None, request_id: IdQuery = None,
                     include_removed: Annotated[bool, Query(description="Also codes already removed")] = False,
                     ) -> JSONResponse:
    """The org's codes, newest first, each with its per-lock states."""
    items, total = await call.read(lambda tx: svc.list_codes(
        tx, page=page, unit_id=unit_id, lock_id=lock_id, purpose=purpose, lease_id=lease_id, request_id=request_id,
        include_removed=include_removed))
    return page_response(items, total=total, params=page)


@router.get("/{code_id}", response_model=One[CodeOut], operation_id="getAccessCode", responses=problems(404))
async def get_code(call: Reader, code_id: str = id_path()) -> JSONResponse:
    """One code with its state on each lock (seed 001's seven states)."""
    return single(await call.read(lambda tx: svc.get_code(tx, code_id=code_id)))


@router.put("/{code_id}", response_model=One[CodeOut], operation_id="updateAccessCode",
            responses=problems(403, 404, 409, 422))
async def update_code(body: CodeUpdateIn, call: Writer, hub: Hub, code_id: str = id_path()) -> JSONResponse:
    """Rename or reschedule a code (its digits and locks stay)."""
    view = await call.write(lambda tx: svc.change_code(tx, code_id=code_id, name=body.name, schedule=body.schedule,
                                                       unlock_notifications=body.unlock_notifications))
    hub.wake_sync()
    return single(view)


@router.delete("/{code_id}", status_code=202, response_model=One[CodeOut], operation_id="deleteAccessCode",
               responses=problems(403, 404))
async def delete_code(call: Writer, hub: Hub, code_id: str = id_path()) -> JSONResponse:
    """Remove a code from every lock: 202, `deleted` is true until each lock confirms."""
    view = await call.write(lambda tx: svc.remove_code(tx, code_id=code_id))
    hub.wake_sync()
    return single(view, status=202)
