"""HTTP routes of the maintenance service: who may call (the access dependency), one use case, the response."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query
from fastapi.responses import JSONResponse
from hearth_kit.api import api_router, problems
from hearth_kit.calls import Call, Reader, Writer, single, with_roles
from hearth_kit.pagination import Pagination, page_response
from hearth_kit.resources import Resource

from hearth_maintenance import repository as repo
from hearth_maintenance import service
from hearth_maintenance.config import Settings
from hearth_maintenance.domain import (
    ACTION_TARGET,
    COMMENTING_ROLES,
    CREATING_ROLES,
    MANAGING_ROLES,
    TECHNICIAN_TARGETS,
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
)
from hearth_maintenance.schemas import CommentDoc, CommentPage, RequestDoc, RequestPage, SettingsDoc
from hearth_maintenance.views import request_view

router = api_router(prefix="/v1", tags=["maintenance"])  # documents problems, security, operation ids

# Only the Location of a created request comes from here; loading goes through service.load_request.
REQUEST = Resource(kind="request", path="/v1/requests/{id}", view=request_view,
                   load=lambda tx, ident, lock: service.load_request(tx, ident, for_update=lock))

Sort = Literal["created_at", "-created_at", "updated_at", "-updated_at", "due_at", "-due_at", "priority", "-priority"]
_ID_QUERY = r"^[a-z]{2,6}_[0-9A-Za-z]{1,64}$"


def _roles(roles: frozenset[str]) -> Any:
    return with_roles(*sorted(roles))


Creator = Annotated[Call, _roles(CREATING_ROLES)]
Commenter = Annotated[Call, _roles(COMMENTING_ROLES)]
Manager = Annotated[Call, _roles(MANAGING_ROLES)]


def _wait(call: Call) -> float:
    """How long an id missing from the projections is waited for (see Settings)."""
    settings: Settings = call.runtime.settings
    return settings.projection_wait_seconds


@router.post("/requests", status_code=201, response_model=RequestDoc, operation_id="createRequest",
             responses=problems(409))
async def create_request(body: RequestIn, call: Creator) -> JSONResponse:
    """Open a request; its due date comes from the org's SLA for its priority."""
    wait = _wait(call)
    return await call.create_once(body, lambda tx: service.create_request(tx, body, wait_seconds=wait),
                                  resource=REQUEST)


@router.get("/requests", response_model=RequestPage, operation_id="listRequests")
async def list_requests(
    call: Reader, page: Pagination,
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
    items, total = await call.read(lambda tx: service.list_requests(tx, filters, sort=sort, page=page))
    capped = {"total_capped": True} if total > repo.COUNT_CAP else {}
    return page_response(items, total=min(total, repo.COUNT_CAP), params=page, **capped)


@router.get("/requests/{request_id}", response_model=RequestDoc, operation_id="getRequest")
async def get_request(request_id: str, call: Reader) -> JSONResponse:
    """One request with its history and comments; its ETag is what If-Match compares with."""
    return single(await call.read(lambda tx: service.get_request(tx, request_id)))


@router.patch("/requests/{request_id}", response_model=RequestDoc, operation_id="updateRequest",
              responses=problems(409))
async def patch_request(request_id: str, body: RequestPatch, call: Writer) -> JSONResponse:
    """Change the status (the same lifecycle as the actions) and/or edit fields; If-Match honoured."""
    wait, if_match = _wait(call), call.if_match
    return single(await call.write(
        lambda tx: service.patch_request(tx, request_id, body, if_match=if_match, wait_seconds=wait)))


# --- actions: named moves along the lifecycle --------------------------------------------------------

_ACTION_RESPONSES = problems(409, 412)
# The moves whose body is at most a reason: (action, what it does). Who may make each follows from its target.
_MOVES: tuple[tuple[str, str], ...] = (
    ("unassign", "Take the technician off: assigned → new (the technician's access ends)."),
    ("start", "Work begins: assigned → in_progress."),
    ("hold", "Pause the work (waiting for parts, access...): in_progress → on_hold."),
    ("resume", "Continue paused work: on_hold → in_progress."),
    ("cancel", "Cancel an open request (terminal)."),
    ("reopen", "Reopen done work: done → new (counted in reopen_count)."),
)


def _movers(action: str) -> frozenset[str]:
    """Managers make every move; a technician moves their own work along."""
    return MANAGING_ROLES | ({"technician"} if ACTION_TARGET[action] in TECHNICIAN_TARGETS else set())


def _add_move_route(action: str, summary: str) -> None:
    access = _roles(_movers(action))

    async def move_request(request_id: str, body: ActionIn | None = None, call: Call = access) -> JSONResponse:
        if_match = call.if_match
        return single(await call.write(
            lambda tx: service.act(tx, request_id, action, body or ActionIn(), if_match=if_match)))

    router.add_api_route(f"/requests/{{request_id}}/{action}", move_request, methods=["POST"],
                         response_model=RequestDoc, operation_id=f"{action}Request", name=f"{action}_request",
                         description=summary, responses=_ACTION_RESPONSES)


for _action, _summary in _MOVES:
    _add_move_route(_action, _summary)


@router.post("/requests/{request_id}/assign", response_model=RequestDoc, operation_id="assignRequest",
             responses=_ACTION_RESPONSES)
async def assign_request(request_id: str, body: AssignIn, call: Manager) -> JSONResponse:
    """Assign (or re-assign) a technician member: new → assigned."""
    wait, if_match = _wait(call), call.if_match
    return single(await call.write(
        lambda tx: service.assign(tx, request_id, body, if_match=if_match, wait_seconds=wait)))


@router.post("/requests/{request_id}/complete", response_model=RequestDoc, operation_id="completeRequest",
             responses=_ACTION_RESPONSES)
async def complete_request(request_id: str, call: Annotated[Call, _roles(_movers("complete"))],
                           body: CompleteIn | None = None) -> JSONResponse:
    """Work done: in_progress → done (409 while its sensor alert is raised, unless a manager forces it)."""
    if_match = call.if_match
    return single(await call.write(
        lambda tx: service.act(tx, request_id, "complete", body or CompleteIn(), if_match=if_match)))


@router.post("/requests/{request_id}/reschedule", response_model=RequestDoc, operation_id="rescheduleRequest",
             responses=_ACTION_RESPONSES)
async def reschedule_request(request_id: str, body: RescheduleIn, call: Manager) -> JSONResponse:
    """Set a new visit window on an open request."""
    if_match = call.if_match
    return single(await call.write(lambda tx: service.reschedule(tx, request_id, body, if_match=if_match)))


# --- comments and settings ---------------------------------------------------------------------------


@router.post("/requests/{request_id}/comments", status_code=201, response_model=CommentDoc,
             operation_id="addRequestComment")
async def add_comment(request_id: str, body: CommentIn, call: Commenter) -> JSONResponse:
    """Comment on a request (up to 10,000 characters)."""
    return await call.create_once({"request_id": request_id, **body.model_dump()},
                                  lambda tx: service.add_comment(tx, request_id, body))


@router.get("/requests/{request_id}/comments", response_model=CommentPage, operation_id="listRequestComments")
async def list_comments(request_id: str, call: Reader, page: Pagination) -> JSONResponse:
    """A request's comments, oldest first."""
    items, total = await call.read(lambda tx: service.list_comments(tx, request_id, page))
    return page_response(items, total=total, params=page)


@router.get("/maintenance-settings", response_model=SettingsDoc, operation_id="getMaintenanceSettings")
async def get_settings(call: Reader) -> JSONResponse:
    """The org's SLA hours per priority (defaults: emergency 4, high 24, normal 72, low 168)."""
    return JSONResponse({"data": await call.read(service.get_settings)})


@router.put("/maintenance-settings", response_model=SettingsDoc, operation_id="putMaintenanceSettings")
async def put_settings(body: SettingsIn, call: Manager) -> JSONResponse:
    """Replace the org's SLA hours (admins and managers)."""
    return JSONResponse({"data": await call.write(lambda tx: service.put_settings(tx, body))})
