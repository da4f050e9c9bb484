"""Request use cases: each is one transaction that writes its rows, its history and its outbox events together."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
from hearth_contracts.envelope import EventData
from hearth_contracts.maintenance import (
    RequestAssigned,
    RequestCanceled,
    RequestCommentAdded,
    RequestCompleted,
    RequestCreated,
    RequestReopened,
    RequestRescheduled,
    RequestStatusChanged,
)
from hearth_kit import outbox
from hearth_kit.auth import Principal
from hearth_kit.db import Database
from hearth_kit.ids import looks_like, new_id
from hearth_kit.pagination import PageParams
from hearth_kit.problems import Problem, not_found

from hearth_maintenance import repository as repo
from hearth_maintenance.domain import (
    ACTION_TARGET,
    COMMENTING_ROLES,
    CREATING_ROLES,
    DEFAULT_SLA_HOURS,
    MANAGING_ROLES,
    OPEN_STATUSES,
    ActionIn,
    AssignIn,
    CommentIn,
    CompleteIn,
    RequestIn,
    RequestPatch,
    RescheduleIn,
    SettingsIn,
    WindowIn,
    actor_of,
    check_action,
    check_may_move,
    check_transition,
    due_at,
    narrowed_to,
    require_role,
)
from hearth_maintenance.views import comment_view, request_view, window_of

SOURCE = "hearth/maintenance"
SYSTEM_ACTOR = "system"


def _field_problem(field: str, message: str, slug: str = "validation-error") -> Problem:
    return Problem(422, message, slug=slug, errors=[{"field": field, "message": message, "code": slug}])


async def emit(conn: asyncpg.Connection, data: EventData, *, request_id: str, org_id: str,
               traceparent: str | None) -> None:
    """One fact about a request, into the outbox of the current transaction (keyed by request id)."""
    await outbox.append(conn, source=SOURCE, data=data, subject=request_id, org_id=org_id, traceparent=traceparent)


# --- checks against the projections ------------------------------------------------------------


async def _eventually(db: Database, *, org_id: str, check: Callable[[asyncpg.Connection], Awaitable[bool]],
                      wait_seconds: float) -> bool:
    """True once `check` holds; a projection a moment behind its producer is waited for, briefly."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    delay = 0.02
    while True:
        async with db.transaction(org_id=org_id) as conn:
            if await check(conn):
                return True
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(min(delay, max(0.0, deadline - loop.time())))
        delay = min(delay * 2, 0.2)


async def check_references(
    db: Database, *, org_id: str, building_id: str | None, unit_id: str | None, assignee_id: str | None,
    wait_seconds: float,
) -> None:
    """422 unless the building, the unit (in that building) and the technician exist in the caller's org."""
    if building_id is not None:
        async def building(conn: asyncpg.Connection) -> bool:
            return await repo.building_known(conn, building_id)
        if not await _eventually(db, org_id=org_id, check=building, wait_seconds=wait_seconds):
            raise _field_problem("building_id", f"building {building_id} does not exist", "unknown-building")
    if unit_id is not None:
        async def unit(conn: asyncpg.Connection) -> bool:
            return await repo.building_of_unit(conn, unit_id) is not None
        if not await _eventually(db, org_id=org_id, check=unit, wait_seconds=wait_seconds):
            raise _field_problem("unit_id", f"unit {unit_id} does not exist", "unknown-unit")
    if assignee_id is not None:
        async def technician(conn: asyncpg.Connection) -> bool:
            return await repo.member_role(conn, assignee_id) == "technician"
        if not await _eventually(db, org_id=org_id, check=technician, wait_seconds=wait_seconds):
            raise _field_problem("assignee_id", f"{assignee_id} is not a technician member of this org",
                                 "not-a-technician")


async def sla_hours(conn: asyncpg.Connection) -> dict[str, int]:
    """The org's SLA hours per priority (defaults where unset)."""
    stored, _ = await repo.get_sla_hours(conn)
    return {**DEFAULT_SLA_HOURS, **(stored or {})}


# --- create ------------------------------------------------------------------------------------


async def create_request(
    conn: asyncpg.Connection, *, principal: Principal, body: RequestIn, traceparent: str | None = None,
) -> dict[str, Any]:
    """Open a request (already checked against the projections); assigned at once when it names a technician."""
    require_role(principal, CREATING_ROLES, "create requests")
    if body.unit_id is not None:
        unit_building = await repo.building_of_unit(conn, body.unit_id)
        if unit_building != body.building_id:
            raise _field_problem("unit_id", f"unit {body.unit_id} is not in building {body.building_id}",
                                 "unit-not-in-building")
    now = datetime.now(UTC)
    actor = actor_of(principal)
    row = await repo.insert_request(conn, {
        "id": new_id("req"), "org_id": principal.org_id, "building_id": body.building_id, "unit_id": body.unit_id,
        "title": body.title, "description": body.description, "category": body.category,
        "priority": body.priority, "status": "new", "source": body.source,
        "reporter_id": body.reporter_id or actor, "permission_to_enter": body.permission_to_enter,
        "entry_notes": body.entry_notes, "vendor_name": body.vendor_name,
        "window_start": body.scheduled_window.start if body.scheduled_window else None,
        "window_end": body.scheduled_window.end if body.scheduled_window else None,
        "due_at": due_at(now, body.priority, await sla_hours(conn)), "attachments": body.attachments,
        "created_by": actor, "created_at": now, "updated_at": now,
    })
    row = await record_created(conn, row, actor=actor, traceparent=traceparent)
    if body.assignee_id is not None:
        row = await move(conn, row, target="assigned", actor=actor, principal=principal,
                         edits={"assignee_id": body.assignee_id}, traceparent=traceparent)
    return request_view(row)


async def record_created(conn: asyncpg.Connection, row: asyncpg.Record, *, actor: str,
                         traceparent: str | None, details: dict[str, Any] | None = None) -> asyncpg.Record:
    """History and the created event of a new request."""
    await repo.add_history(conn, org_id=row["org_id"], request_id=row["id"], kind="created", to_status="new",
                           actor_id=actor, details=details)
    await emit(conn, RequestCreated(
        request_id=row["id"], org_id=row["org_id"], building_id=row["building_id"], unit_id=row["unit_id"],
        title=row["title"], category=row["category"], priority=row["priority"], source=row["source"],
        due_at=row["due_at"], created_at=row["created_at"]), request_id=row["id"], org_id=row["org_id"],
        traceparent=traceparent)
    return row


# --- the one way a request changes state ----------------------------------------------------------


def _assigned_event(row: asyncpg.Record, cls: type[RequestAssigned] | type[RequestRescheduled]) -> EventData:
    return cls(request_id=row["id"], org_id=row["org_id"], building_id=row["building_id"], unit_id=row["unit_id"],
               assignee_id=row["assignee_id"], permission_to_enter=row["permission_to_enter"],
               window=window_of(row))


async def move(
    conn: asyncpg.Connection, row: asyncpg.Record, *, target: str, actor: str, principal: Principal | None,
    edits: dict[str, Any] | None = None, reason: str | None = None, force: bool = False,
    traceparent: str | None = None, details: dict[str, Any] | None = None,
) -> asyncpg.Record:
    """Move `row` to `target` along the lifecycle (409 otherwise), with its history and events.

    PATCH, every action and the consumers all come here, so the lifecycle is enforced once.
    `principal` is None for moves the platform makes itself (code used, unit deleted).
    """
    current = row["status"]
    check_transition(current, target)
    fields: dict[str, Any] = {"status": target, **(edits or {})}
    if target == "assigned" and not fields.get("assignee_id", row["assignee_id"]):
        raise _field_problem("assignee_id", "an assigned request needs an assignee (a technician member)",
                             "assignee-required")
    if target == "done":
        if row["alert_active"]:
            if not force:
                raise Problem(409, f"sensor {row['sensor_id']}'s alert is still raised; a manager may complete"
                              " it anyway with force: true", slug="alert-still-raised", sensor_id=row["sensor_id"])
            if principal is None or principal.role not in MANAGING_ROLES:
                raise Problem(403, "only a manager may force completion while the alert is raised", slug="forbidden")
        fields["completed_at"] = datetime.now(UTC)
    if target == "new":  # back to the queue: unassigned, not completed
        fields.update(assignee_id=None, completed_at=None)
        if current == "done":
            fields["reopen_count"] = row["reopen_count"] + 1
    after = await repo.update_request(conn, row["id"], fields)
    org_id, request_id = row["org_id"], row["id"]
    await repo.add_history(conn, org_id=org_id, request_id=request_id, kind="status_changed", from_status=current,
                           to_status=target, actor_id=actor, reason=reason,
                           details={**(details or {}), **({"forced": True} if force and target == "done" else {})})
    now = datetime.now(UTC)
    await emit(conn, RequestStatusChanged(
        request_id=request_id, org_id=org_id, building_id=after["building_id"], unit_id=after["unit_id"],
        previous_status=current, status=target, reason=reason, actor_id=actor, at=now),
        request_id=request_id, org_id=org_id, traceparent=traceparent)
    follow_up: EventData | None = None
    if target == "assigned":
        follow_up = _assigned_event(after, RequestAssigned)
    elif target == "done":
        follow_up = RequestCompleted(request_id=request_id, org_id=org_id, building_id=after["building_id"],
                                     unit_id=after["unit_id"], reason=reason, completed_at=after["completed_at"])
    elif target == "canceled":
        follow_up = RequestCanceled(request_id=request_id, org_id=org_id, building_id=after["building_id"],
                                    unit_id=after["unit_id"], reason=reason)
    elif target == "new" and current == "done":
        follow_up = RequestReopened(request_id=request_id, org_id=org_id, building_id=after["building_id"],
                                    unit_id=after["unit_id"], reopen_count=after["reopen_count"], reason=reason)
    if follow_up is not None:
        await emit(conn, follow_up, request_id=request_id, org_id=org_id, traceparent=traceparent)
    return after


# --- read ----------------------------------------------------------------------------------------


def _valid_request_id(request_id: str) -> None:
    if not looks_like("req", request_id):
        raise not_found("request", request_id[:100])


async def _load(conn: asyncpg.Connection, principal: Principal, request_id: str, *,
                for_update: bool = False) -> asyncpg.Record:
    _valid_request_id(request_id)
    narrowed, assignee = narrowed_to(principal)
    row = await repo.get_request(conn, request_id, for_update=for_update, narrowed=narrowed, assignee_id=assignee)
    if row is None:
        raise not_found("request", request_id)
    return row


async def get_request(db: Database, *, principal: Principal, request_id: str) -> dict[str, Any]:
    """One request with its history and comments (a technician sees only their own)."""
    async with db.transaction(org_id=principal.org_id) as conn:
        row = await _load(conn, principal, request_id)
        history = await repo.history_of(conn, request_id)
        comments, _ = await repo.comments_of(conn, request_id, limit=100, offset=0)
    return request_view(row, history=history, comments=comments)


async def list_requests(
    db: Database, *, principal: Principal, filters: repo.RequestFilter, sort: str, page: PageParams,
) -> tuple[list[dict[str, Any]], int]:
    """A page of the caller's requests (a technician's view holds only what is assigned to them)."""
    narrowed, assignee = narrowed_to(principal)
    f = repo.RequestFilter(**{**filters.__dict__, "narrowed": narrowed, "only_assignee": assignee})
    async with db.transaction(org_id=principal.org_id) as conn:
        rows, total = await repo.list_requests(conn, org_id=principal.org_id, f=f, sort=sort, limit=page.limit,
                                               offset=page.offset)
    return [request_view(r) for r in rows], total


# --- change ----------------------------------------------------------------------------------------


def _window_fields(window: WindowIn | None) -> dict[str, Any]:
    return {"window_start": window.start if window else None, "window_end": window.end if window else None}


async def patch_request(
    db: Database, *, principal: Principal, request_id: str, body: RequestPatch, traceparent: str | None = None,
    wait_seconds: float,
) -> dict[str, Any]:
    """Seed 000's status update and field edits, under the same lifecycle as the actions."""
    sent = body.model_fields_set - {"reason", "force"}
    edits_sent = sent - {"status"}
    if edits_sent:
        require_role(principal, MANAGING_ROLES, "edit request fields")
    if "assignee_id" in sent and body.assignee_id is not None:
        await check_references(db, org_id=principal.org_id, building_id=None, unit_id=None,
                               assignee_id=body.assignee_id, wait_seconds=wait_seconds)
    actor = actor_of(principal)
    async with db.transaction(org_id=principal.org_id) as conn:
        row = await _load(conn, principal, request_id, for_update=True)
        status = row["status"]
        edits: dict[str, Any] = {}
        for name in ("title", "description", "category", "permission_to_enter", "entry_notes", "vendor_name",
                     "attachments"):
            if name in sent:
                edits[name] = getattr(body, name) if name != "description" else (body.description or "")
        if "priority" in sent and body.priority != row["priority"]:
            edits["priority"] = body.priority
            assert body.priority is not None
            edits["due_at"] = due_at(row["created_at"], body.priority, await sla_hours(conn))
        if "scheduled_window" in sent:
            edits.update(_window_fields(body.scheduled_window))
        if "assignee_id" in sent:
            edits["assignee_id"] = body.assignee_id
        # The target state: asked for, or implied by giving/taking the assignee of a waiting request.
        target: str | None = body.status if "status" in sent and body.status != status else None
        if target is None and "assignee_id" in sent:
            if body.assignee_id is not None and status == "new":
                target = "assigned"
            elif body.assignee_id is None and status == "assigned":
                target = "new"
            elif body.assignee_id is None and status in ("in_progress", "on_hold"):
                raise _field_problem("assignee_id", f"a request {status} keeps its assignee; move it first",
                                     "assignee-required")
        if target is not None:
            check_may_move(principal, target)
            if "assignee_id" in sent and target == "new":
                edits.pop("assignee_id")
            after = await move(conn, row, target=target, actor=actor, principal=principal, edits=edits,
                               reason=body.reason, force=body.force, traceparent=traceparent)
            reassigned = False
        else:
            if status in ("done", "canceled") and edits:
                raise Problem(409, f"a {status} request cannot be edited (reopen it first)", slug="request-closed",
                              allowed_next=[])
            after = await repo.update_request(conn, request_id, edits) if edits else row
            reassigned = "assignee_id" in edits and edits["assignee_id"] != row["assignee_id"]
            if reassigned:
                await repo.add_history(conn, org_id=principal.org_id, request_id=request_id, kind="reassigned",
                                       actor_id=actor, reason=body.reason,
                                       details={"from": row["assignee_id"], "to": after["assignee_id"]})
                await emit(conn, _assigned_event(after, RequestAssigned), request_id=request_id,
                           org_id=principal.org_id, traceparent=traceparent)
        window_changed = (after["window_start"], after["window_end"]) != (row["window_start"], row["window_end"])
        if (window_changed and after["assignee_id"] and after["status"] in OPEN_STATUSES
                and target != "assigned" and not reassigned):
            await _rescheduled(conn, row, after, actor=actor, reason=body.reason, traceparent=traceparent)
    return request_view(after)


async def _rescheduled(conn: asyncpg.Connection, before: asyncpg.Record, after: asyncpg.Record, *, actor: str,
                       reason: str | None, traceparent: str | None) -> None:
    def win(r: asyncpg.Record) -> dict[str, Any] | None:
        w = window_of(r)
        return None if w is None else w.model_dump(mode="json")

    await repo.add_history(conn, org_id=after["org_id"], request_id=after["id"], kind="rescheduled", actor_id=actor,
                           reason=reason, details={"from": win(before), "to": win(after)})
    if after["assignee_id"]:
        await emit(conn, _assigned_event(after, RequestRescheduled), request_id=after["id"], org_id=after["org_id"],
                   traceparent=traceparent)


async def act(
    db: Database, *, principal: Principal, request_id: str, action: str,
    body: ActionIn | AssignIn | CompleteIn, traceparent: str | None = None, wait_seconds: float,
) -> dict[str, Any]:
    """POST /v1/requests/{id}/<action>: a named move (assign may also re-assign an assigned request)."""
    target = ACTION_TARGET[action]
    check_may_move(principal, target)
    if isinstance(body, AssignIn):
        await check_references(db, org_id=principal.org_id, building_id=None, unit_id=None,
                               assignee_id=body.assignee_id, wait_seconds=wait_seconds)
    actor = actor_of(principal)
    async with db.transaction(org_id=principal.org_id) as conn:
        row = await _load(conn, principal, request_id, for_update=True)
        if isinstance(body, AssignIn):
            edits: dict[str, Any] = {"assignee_id": body.assignee_id}
            if body.scheduled_window is not None:
                edits.update(_window_fields(body.scheduled_window))
            if row["status"] == "assigned":  # re-assignment: same state, new technician
                after = await repo.update_request(conn, request_id, edits)
                await repo.add_history(conn, org_id=principal.org_id, request_id=request_id, kind="reassigned",
                                       actor_id=actor, reason=body.reason,
                                       details={"from": row["assignee_id"], "to": body.assignee_id})
                await emit(conn, _assigned_event(after, RequestAssigned), request_id=request_id,
                           org_id=principal.org_id, traceparent=traceparent)
                return request_view(after)
            check_action(action, row["status"])
            after = await move(conn, row, target=target, actor=actor, principal=principal, edits=edits,
                               reason=body.reason, traceparent=traceparent)
        else:
            check_action(action, row["status"])
            force = body.force if isinstance(body, CompleteIn) else False
            after = await move(conn, row, target=target, actor=actor, principal=principal, reason=body.reason,
                               force=force, traceparent=traceparent)
    return request_view(after)


async def reschedule(
    db: Database, *, principal: Principal, request_id: str, body: RescheduleIn, traceparent: str | None = None,
) -> dict[str, Any]:
    """Set a new visit window on an open request (announced to access-control when it has a technician)."""
    require_role(principal, MANAGING_ROLES, "reschedule requests")
    async with db.transaction(org_id=principal.org_id) as conn:
        row = await _load(conn, principal, request_id, for_update=True)
        if row["status"] not in OPEN_STATUSES:
            raise Problem(409, f"a {row['status']} request cannot be rescheduled", slug="request-closed",
                          allowed_next=[])
        after = await repo.update_request(conn, request_id, _window_fields(body.scheduled_window))
        await _rescheduled(conn, row, after, actor=actor_of(principal), reason=body.reason, traceparent=traceparent)
    return request_view(after)


# --- comments ------------------------------------------------------------------------------------


async def add_comment(
    conn: asyncpg.Connection, *, principal: Principal, request_id: str, body: CommentIn,
    traceparent: str | None = None,
) -> dict[str, Any]:
    """Add a comment (technicians only on their own requests)."""
    require_role(principal, COMMENTING_ROLES, "comment on requests")
    await _load(conn, principal, request_id)
    return await write_comment(conn, org_id=principal.org_id, request_id=request_id, author=actor_of(principal),
                               text=body.body, traceparent=traceparent)


async def write_comment(conn: asyncpg.Connection, *, org_id: str, request_id: str, author: str, text: str,
                        traceparent: str | None) -> dict[str, Any]:
    """Store a comment and announce it."""
    row = await repo.insert_comment(conn, {"id": new_id("com"), "org_id": org_id, "request_id": request_id,
                                           "author_id": author, "body": text})
    await emit(conn, RequestCommentAdded(request_id=request_id, org_id=org_id, comment_id=row["id"], author_id=author,
                                         body=text, created_at=row["created_at"]),
               request_id=request_id, org_id=org_id, traceparent=traceparent)
    return comment_view(row)


async def list_comments(db: Database, *, principal: Principal, request_id: str,
                        page: PageParams) -> tuple[list[dict[str, Any]], int]:
    """A page of a request's comments, oldest first."""
    async with db.transaction(org_id=principal.org_id) as conn:
        await _load(conn, principal, request_id)
        rows, total = await repo.comments_of(conn, request_id, limit=page.limit, offset=page.offset)
    return [comment_view(r) for r in rows], total


# --- settings --------------------------------------------------------------------------------------


async def get_settings(db: Database, *, principal: Principal) -> dict[str, Any]:
    """The org's maintenance settings (defaults until set)."""
    async with db.transaction(org_id=principal.org_id) as conn:
        stored, updated_at = await repo.get_sla_hours(conn)
    return {"sla_hours": {**DEFAULT_SLA_HOURS, **(stored or {})}, "defaults": stored is None,
            "updated_at": None if updated_at is None else updated_at.isoformat()}


async def put_settings(db: Database, *, principal: Principal, body: SettingsIn) -> dict[str, Any]:
    """Replace the org's SLA hours (requests opened from now on, or whose priority changes, use them)."""
    require_role(principal, MANAGING_ROLES, "change maintenance settings")
    hours = body.sla_hours.model_dump()
    async with db.transaction(org_id=principal.org_id) as conn:
        updated_at = await repo.put_sla_hours(conn, org_id=principal.org_id, sla_hours=hours)
    return {"sla_hours": hours, "defaults": False, "updated_at": updated_at.isoformat()}
