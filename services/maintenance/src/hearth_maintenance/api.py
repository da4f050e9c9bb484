"""HTTP routes of the maintenance service: parse, call a use case, shape the response."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query, Request
from fastapi.responses import JSONResponse
from hearth_kit.api import api_router, problems
from hearth_kit.auth import CurrentPrincipal
from hearth_kit.pagination import Pagination, page_body
from hearth_kit.routes import IdempotencyKey, create_once, traceparent
from hearth_kit.runtime import Deps, Runtime

from hearth_maintenance import repository as repo
from hearth_maintenance import service
from hearth_maintenance.domain import (
    CREATING_ROLES,
    ActionIn,
    AssignIn,
    Category,
    CommentIn,
    CompleteIn,
    Moment,
    Priority,
    RequestIn,
    RequestPatch,
    RescheduleIn,
    SettingsIn,
    Source,
    Status,
    Text,
    require_role,
)
from hearth_maintenance.schemas import (
    CommentDoc,
    CommentPage,
    RequestDoc,
    RequestPage,
    SettingsDoc,
)

router = api_router(prefix="/v1", tags=["maintenance"])  # documents problems, security, operation ids

Sort = Literal["created_at", "-created_at", "updated_at", "-updated_at", "due_at", "-due_at", "priority", "-priority"]
_ID_QUERY = r"^[a-z]{2,6}_[0-9A-Za-z]{1,64}$"


def _wait(deps: Runtime) -> float:
    return float(getattr(deps.settings, "projection_wait_seconds", 2.0))


@router.post("/requests", status_code=201, response_model=RequestDoc, operation_id="createRequest",
             responses=problems(400, 403, 409, 422))
async def create_request(body: RequestIn, principal: CurrentPrincipal, deps: Deps, request: Request,
                         idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Open a request; its due date comes from the org's SLA for its priority."""
    require_role(principal, CREATING_ROLES, "create requests")
    await service.check_references(deps.db, org_id=principal.org_id, building_id=body.building_id,
                                   unit_id=body.unit_id, assignee_id=body.assignee_id, wait_seconds=_wait(deps))
    return await create_once(
        deps, principal, key=idempotency_key, request_body=body.model_dump(mode="json"),
        create=lambda conn: service.create_request(conn, principal=principal, body=body,
                                                   traceparent=traceparent(request)))


@router.get("/requests", response_model=RequestPage, operation_id="listRequests", responses=problems(422))
async def list_requests(
    principal: CurrentPrincipal, deps: Deps, page: Pagination,
    status: Annotated[list[Status] | None, Query(description="One or more statuses (repeat the parameter)")] = None,
    priority: Annotated[Priority | None, Query()] = None,
    category: Annotated[Category | None, Query()] = None,
    building_id: Annotated[str | None, Query(pattern=_ID_QUERY, max_length=80)] = None,
    unit_id: Annotated[str | None, Query(pattern=_ID_QUERY, max_length=80)] = None,
    assignee_id: Annotated[str | None, Query(pattern=_ID_QUERY, max_length=80)] = None,
    overdue: Annotated[bool | None, Query(description="Only (un)overdue requests")] = None,
    source: Annotated[Source | None, Query()] = None,
    created_from: Annotated[Moment | None, Query(description="Created at or after (RFC 3339)")] = None,
    created_to: Annotated[Moment | None, Query(description="Created before (RFC 3339)")] = None,
    q: Annotated[Text | None, Query(max_length=200, description="Title contains (case-insensitive)")] = None,
    sort: Annotated[Sort, Query(description="Field, `-` for descending")] = "-created_at",
) -> JSONResponse:
    """List requests with filters (a technician sees only the requests assigned to them)."""
    filters = repo.RequestFilter(
        statuses=list(dict.fromkeys(status)) if status else None, priority=priority, category=category,
        building_id=building_id, unit_id=unit_id, assignee_id=assignee_id, overdue=overdue, source=source,
        created_from=created_from, created_to=created_to, q=q)
    items, total = await service.list_requests(deps.db, principal=principal, filters=filters, sort=sort, page=page)
    body = page_body(items, total=min(total, repo.COUNT_CAP), params=page)
    if total > repo.COUNT_CAP:
        body["meta"]["total_capped"] = True
    return JSONResponse(body)  # documented by response_model, not re-validated on the way out


@router.get("/requests/{request_id}", response_model=RequestDoc, operation_id="getRequest",
            responses=problems(404))
async def get_request(request_id: str, principal: CurrentPrincipal, deps: Deps) -> dict[str, Any]:
    """One request with its history and comments."""
    return {"data": await service.get_request(deps.db, principal=principal, request_id=request_id)}


@router.patch("/requests/{request_id}", response_model=RequestDoc, operation_id="updateRequest",
              responses=problems(403, 404, 409, 422))
async def patch_request(request_id: str, body: RequestPatch, principal: CurrentPrincipal, deps: Deps,
                        request: Request) -> dict[str, Any]:
    """Change the status (the same lifecycle as the actions) and/or edit fields."""
    return {"data": await service.patch_request(deps.db, principal=principal, request_id=request_id, body=body,
                                                traceparent=traceparent(request), wait_seconds=_wait(deps))}


async def _act(deps: Runtime, principal: Any, request: Request, request_id: str, action: str,
               body: ActionIn | AssignIn | CompleteIn | None) -> dict[str, Any]:
    return {"data": await service.act(deps.db, principal=principal, request_id=request_id, action=action,
                                      body=body or ActionIn(), traceparent=traceparent(request),
                                      wait_seconds=_wait(deps))}


_ACTION_RESPONSES = problems(403, 404, 409, 422)


@router.post("/requests/{request_id}/assign", response_model=RequestDoc, operation_id="assignRequest",
             responses=_ACTION_RESPONSES)
async def assign_request(request_id: str, body: AssignIn, principal: CurrentPrincipal, deps: Deps,
                         request: Request) -> dict[str, Any]:
    """Assign (or re-assign) a technician member: new → assigned."""
    return await _act(deps, principal, request, request_id, "assign", body)


@router.post("/requests/{request_id}/unassign", response_model=RequestDoc, operation_id="unassignRequest",
             responses=_ACTION_RESPONSES)
async def unassign_request(request_id: str, principal: CurrentPrincipal, deps: Deps, request: Request,
                           body: ActionIn | None = None) -> dict[str, Any]:
    """Take the technician off: assigned → new."""
    return await _act(deps, principal, request, request_id, "unassign", body)


@router.post("/requests/{request_id}/start", response_model=RequestDoc, operation_id="startRequest",
             responses=_ACTION_RESPONSES)
async def start_request(request_id: str, principal: CurrentPrincipal, deps: Deps, request: Request,
                        body: ActionIn | None = None) -> dict[str, Any]:
    """Work begins: assigned → in_progress."""
    return await _act(deps, principal, request, request_id, "start", body)


@router.post("/requests/{request_id}/hold", response_model=RequestDoc, operation_id="holdRequest",
             responses=_ACTION_RESPONSES)
async def hold_request(request_id: str, principal: CurrentPrincipal, deps: Deps, request: Request,
                       body: ActionIn | None = None) -> dict[str, Any]:
    """Pause the work (waiting for parts, access...): in_progress → on_hold."""
    return await _act(deps, principal, request, request_id, "hold", body)


@router.post("/requests/{request_id}/resume", response_model=RequestDoc, operation_id="resumeRequest",
             responses=_ACTION_RESPONSES)
async def resume_request(request_id: str, principal: CurrentPrincipal, deps: Deps, request: Request,
                         body: ActionIn | None = None) -> dict[str, Any]:
    """Continue paused work: on_hold → in_progress."""
    return await _act(deps, principal, request, request_id, "resume", body)


@router.post("/requests/{request_id}/complete", response_model=RequestDoc, operation_id="completeRequest",
             responses=_ACTION_RESPONSES)
async def complete_request(request_id: str, principal: CurrentPrincipal, deps: Deps, request: Request,
                           body: CompleteIn | None = None) -> dict[str, Any]:
    """Work done: in_progress → done (409 while its sensor alert is raised, unless a manager forces it)."""
    return await _act(deps, principal, request, request_id, "complete", body or CompleteIn())


@router.post("/requests/{request_id}/cancel", response_model=RequestDoc, operation_id="cancelRequest",
             responses=_ACTION_RESPONSES)
async def cancel_request(request_id: str, principal: CurrentPrincipal, deps: Deps, request: Request,
                         body: ActionIn | None = None) -> dict[str, Any]:
    """Cancel an open request (terminal)."""
    return await _act(deps, principal, request, request_id, "cancel", body)


@router.post("/requests/{request_id}/reopen", response_model=RequestDoc, operation_id="reopenRequest",
             responses=_ACTION_RESPONSES)
async def reopen_request(request_id: str, principal: CurrentPrincipal, deps: Deps, request: Request,
                         body: ActionIn | None = None) -> dict[str, Any]:
    """Reopen done work: done → new (counted in reopen_count)."""
    return await _act(deps, principal, request, request_id, "reopen", body)


@router.post("/requests/{request_id}/reschedule", response_model=RequestDoc, operation_id="rescheduleRequest",
             responses=_ACTION_RESPONSES)
async def reschedule_request(request_id: str, body: RescheduleIn, principal: CurrentPrincipal, deps: Deps,
                             request: Request) -> dict[str, Any]:
    """Set a new visit window on an open request."""
    return {"data": await service.reschedule(deps.db, principal=principal, request_id=request_id, body=body,
                                             traceparent=traceparent(request))}


@router.post("/requests/{request_id}/comments", status_code=201, response_model=CommentDoc,
             operation_id="addRequestComment", responses=problems(400, 403, 404, 422))
async def add_comment(request_id: str, body: CommentIn, principal: CurrentPrincipal, deps: Deps, request: Request,
                      idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Comment on a request (up to 10,000 characters)."""
    return await create_once(
        deps, principal, key=idempotency_key, request_body={"request_id": request_id, **body.model_dump()},
        create=lambda conn: service.add_comment(conn, principal=principal, request_id=request_id, body=body,
                                                traceparent=traceparent(request)))


@router.get("/requests/{request_id}/comments", response_model=CommentPage, operation_id="listRequestComments",
            responses=problems(404))
async def list_comments(request_id: str, principal: CurrentPrincipal, deps: Deps, page: Pagination) -> dict[str, Any]:
    """A request's comments, oldest first."""
    items, total = await service.list_comments(deps.db, principal=principal, request_id=request_id, page=page)
    return page_body(items, total=total, params=page)


@router.get("/maintenance-settings", response_model=SettingsDoc, operation_id="getMaintenanceSettings")
async def get_settings(principal: CurrentPrincipal, deps: Deps) -> dict[str, Any]:
    """The org's SLA hours per priority (defaults: emergency 4, high 24, normal 72, low 168)."""
    return {"data": await service.get_settings(deps.db, principal=principal)}


@router.put("/maintenance-settings", response_model=SettingsDoc, operation_id="putMaintenanceSettings",
            responses=problems(403, 422))
async def put_settings(body: SettingsIn, principal: CurrentPrincipal, deps: Deps) -> dict[str, Any]:
    """Replace the org's SLA hours (admins and managers)."""
    return {"data": await service.put_settings(deps.db, principal=principal, body=body)}
