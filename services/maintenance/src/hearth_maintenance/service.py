"""Request use cases: each takes the request's `Tx` and writes its rows, its history and its outbox events together."""

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
    RequestUnassigned,
)
from hearth_kit.errors import Conflict, Forbidden, NotFound
from hearth_kit.ids import looks_like, new_id
from hearth_kit.pagination import PageParams
from hearth_kit.resources import check_if_match, etag_of
from hearth_kit.tx import Tx

from hearth_maintenance import repository as repo
from hearth_maintenance.domain import (
    ACTION_TARGET,
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
    field_error,
    narrowed_to,
    require_role,
)
from hearth_maintenance.views import comment_view, request_view, window_of

SYSTEM_ACTOR = "system"


# --- checks against the projections ------------------------------------------------------------


async def _eventually(check: Callable[[], Awaitable[bool]], wait_seconds: float) -> bool:
    """True once `check` holds; a projection a moment behind its producer is waited for, briefly.

    Each check is its own statement, so under READ COMMITTED it sees what the consumer committed meanwhile.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    delay = 0.02
    while True:
        if await check():
            return True
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(min(delay, max(0.0, deadline - loop.time())))
        delay = min(delay * 2, 0.2)


async def check_references(
    tx: Tx, *, building_id: str | None, unit_id: str | None, assignee_id: str | None, wait_seconds: float,
) -> None:
    """422 unless the building, the unit and the technician exist in the caller's org."""
    conn = tx.conn
    if building_id is not None and not await _eventually(lambda: repo.building_known(conn, building_id),
                                                         wait_seconds):
        raise field_error("building_id", f"building {building_id} does not exist", "unknown-building")
    if unit_id is not None:
        async def unit() -> bool:
            return await repo.building_of_unit(conn, unit_id) is not None
        if not await _eventually(unit, wait_seconds):
            raise field_error("unit_id", f"unit {unit_id} does not exist", "unknown-unit")
    if assignee_id is not None:
        async def technician() -> bool:
            return await repo.member_role(conn, assignee_id) == "technician"
        if not await _eventually(technician, wait_seconds):
            raise field_error("assignee_id", f"{assignee_id} is not a technician member of this org",
                              "not-a-technician")


async def sla_hours(conn: asyncpg.Connection) -> dict[str, int]:
    """The org's SLA hours per priority (defaults where unset)."""
    stored, _ = await repo.get_sla_hours(conn)
    return {**DEFAULT_SLA_HOURS, **(stored or {})}


# --- create ------------------------------------------------------------------------------------


async def create_request(tx: Tx, body: RequestIn, *, wait_seconds: float) -> dict[str, Any]:
    """Open a request; its due date comes from the org's SLA; assigned at once when it names a technician."""
    principal = tx.caller
    await check_references(tx, building_id=body.building_id, unit_id=body.unit_id, assignee_id=body.assignee_id,
                           wait_seconds=wait_seconds)
    if body.unit_id is not None:
        unit_building = await repo.building_of_unit(tx.conn, body.unit_id)
        if unit_building != body.building_id:
            raise field_error("unit_id", f"unit {body.unit_id} is not in building {body.building_id}",
                              "unit-not-in-building")
    now = datetime.now(UTC)
    actor = actor_of(principal)
    row = await repo.insert_request(tx.conn, {
        "id": new_id("req"), "org_id": tx.org_id, "building_id": body.building_id, "unit_id": body.unit_id,
        "title": body.title, "description": body.description, "category": body.category,
        "priority": body.priority, "status": "new", "source": body.source,
        "reporter_id": body.reporter_id or actor, "permission_to_enter": body.permission_to_enter,
        "entry_notes": body.entry_notes, "vendor_name": body.vendor_name,
        "window_start": body.scheduled_window.start if body.scheduled_window else None,
        "window_end": body.scheduled_window.end if body.scheduled_window else None,
        "due_at": due_at(now, body.priority, await sla_hours(tx.conn)), "attachments": body.attachments,
        "created_by": actor, "created_at": now, "updated_at": now,
    })
    row = await record_created(tx, row, actor=actor)
    if body.assignee_id is not None:
        row = await move(tx, row, target="assigned", actor=actor, edits={"assignee_id": body.assignee_id})
    return request_view(row)


async def record_created(tx: Tx, row: asyncpg.Record, *, actor: str,
                         details: dict[str, Any] | None = None) -> asyncpg.Record:
    """History and the created event of a new request."""
    await repo.add_history(tx.conn, org_id=row["org_id"], request_id=row["id"], kind="created", to_status="new",
                           actor_id=actor, details=details)
    await tx.emit(RequestCreated(
        request_id=row["id"], org_id=row["org_id"], building_id=row["building_id"], unit_id=row["unit_id"],
        title=row["title"], category=row["category"], priority=row["priority"], source=row["source"],
        due_at=row["due_at"], created_at=row["created_at"]), subject=row["id"])
    return row


# --- the one way a request changes state ----------------------------------------------------------


def _assigned_event(row: asyncpg.Record, cls: type[RequestAssigned] | type[RequestRescheduled]) -> EventData:
    return cls(request_id=row["id"], org_id=row["org_id"], building_id=row["building_id"], unit_id=row["unit_id"],
               assignee_id=row["assignee_id"], permission_to_enter=row["permission_to_enter"],
               window=window_of(row))


def _follow_up(before: asyncpg.Record, after: asyncpg.Record, reason: str | None) -> EventData | None:
    """The event a move announces besides `status_changed` (what access-control and others act on)."""
    current, target = before["status"], after["status"]
    ids: dict[str, Any] = {"request_id": after["id"], "org_id": after["org_id"],
                           "building_id": after["building_id"], "unit_id": after["unit_id"]}
    if target == "assigned":
        return _assigned_event(after, RequestAssigned)
    if target == "done":
        return RequestCompleted(**ids, reason=reason, completed_at=after["completed_at"])
    if target == "canceled":
        return RequestCanceled(**ids, reason=reason)
    if target == "new" and current == "done":
        return RequestReopened(**ids, reopen_count=after["reopen_count"], reason=reason)
    if target == "new" and current == "assigned":  # the technician's access ends with the assignment
        return RequestUnassigned(**ids, previous_assignee_id=before["assignee_id"], reason=reason)
    return None


async def move(
    tx: Tx, row: asyncpg.Record, *, target: str, actor: str, edits: dict[str, Any] | None = None,
    reason: str | None = None, force: bool = False, details: dict[str, Any] | None = None,
) -> asyncpg.Record:
    """Move `row` to `target` along the lifecycle (409 otherwise), with its history and events.

    PATCH, every action and the consumers all come here, so the lifecycle is enforced once.
    `tx.principal` is None for moves the platform makes itself (code used, unit deleted).
    """
    current = row["status"]
    check_transition(current, target)
    fields: dict[str, Any] = {"status": target, **(edits or {})}
    if target == "assigned" and not fields.get("assignee_id", row["assignee_id"]):
        raise field_error("assignee_id", "an assigned request needs an assignee (a technician member)",
                          "assignee-required")
    if target == "done":
        if row["alert_active"]:
            if not force:
                raise Conflict(f"sensor {row['sensor_id']}'s alert is still raised; a manager may complete"
                               " it anyway with force: true", code="alert-still-raised", sensor_id=row["sensor_id"])
            if tx.principal is None or tx.principal.role not in MANAGING_ROLES:
                raise Forbidden("only a manager may force completion while the alert is raised")
        fields["completed_at"] = datetime.now(UTC)
    if target == "new":  # back to the queue: unassigned, not completed
        fields.update(assignee_id=None, completed_at=None)
        if current == "done":
            fields["reopen_count"] = row["reopen_count"] + 1
    after = await repo.update_request(tx.conn, row["id"], fields)
    org_id, request_id = row["org_id"], row["id"]
    await repo.add_history(tx.conn, org_id=org_id, request_id=request_id, kind="status_changed",
                           from_status=current, to_status=target, actor_id=actor, reason=reason,
                           details={**(details or {}), **({"forced": True} if force and target == "done" else {})})
    await tx.emit(RequestStatusChanged(
        request_id=request_id, org_id=org_id, building_id=after["building_id"], unit_id=after["unit_id"],
        previous_status=current, status=target, reason=reason, actor_id=actor, at=datetime.now(UTC)),
        subject=request_id)
    follow_up = _follow_up(row, after, reason)
    if follow_up is not None:
        await tx.emit(follow_up, subject=request_id)
    return after


# --- read ----------------------------------------------------------------------------------------


async def load_request(tx: Tx, request_id: str, *, for_update: bool = False,
                       if_match: str | None = None) -> asyncpg.Record:
    """The caller's request (a technician sees only theirs), 404 otherwise; 412 on a stale `If-Match`."""
    if not looks_like("req", request_id):
        raise NotFound.of("request", request_id[:100])
    narrowed, assignee = narrowed_to(tx.caller)
    row = await repo.get_request(tx.conn, request_id, for_update=for_update, narrowed=narrowed,
                                 assignee_id=assignee)
    if row is None:
        raise NotFound.of("request", request_id)
    check_if_match(if_match, etag_of(request_view(row)))
    return row


async def get_request(tx: Tx, request_id: str) -> dict[str, Any]:
    """One request with its history and comments (a technician sees only their own)."""
    row = await load_request(tx, request_id)
    history = await repo.history_of(tx.conn, request_id)
    comments, _ = await repo.comments_of(tx.conn, request_id, limit=100, offset=0)
    return request_view(row, history=history, comments=comments)


async def list_requests(tx: Tx, filters: repo.RequestFilter, *, sort: str,
                        page: PageParams) -> tuple[list[dict[str, Any]], int]:
    """A page of the caller's requests (a technician's view holds only what is assigned to them)."""
    narrowed, assignee = narrowed_to(tx.caller)
    f = repo.RequestFilter(**{**filters.__dict__, "narrowed": narrowed, "only_assignee": assignee})
    rows, total = await repo.list_requests(tx.conn, org_id=tx.org_id, f=f, sort=sort, limit=page.limit,
                                           offset=page.offset)
    return [request_view(r) for r in rows], total


# --- change ----------------------------------------------------------------------------------------


def _window_fields(window: WindowIn | None) -> dict[str, Any]:
    return {"window_start": window.start if window else None, "window_end": window.end if window else None}


async def patch_request(tx: Tx, request_id: str, body: RequestPatch, *, if_match: str | None,
                        wait_seconds: float) -> dict[str, Any]:
    """Seed 000's status update and field edits, under the same lifecycle as the actions."""
    principal = tx.caller
    sent = body.model_fields_set - {"reason", "force"}
    if sent - {"status"}:  # which role may do this depends on the body: editing fields is for managers
        require_role(principal, MANAGING_ROLES, "edit request fields")
    if "assignee_id" in sent and body.assignee_id is not None:
        await check_references(tx, building_id=None, unit_id=None, assignee_id=body.assignee_id,
                               wait_seconds=wait_seconds)
    actor = actor_of(principal)
    conn = tx.conn
    row = await load_request(tx, request_id, for_update=True, if_match=if_match)
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
            raise field_error("assignee_id", f"a request {status} keeps its assignee; move it first",
                              "assignee-required")
    reassigned = False
    if target is not None:
        check_may_move(principal, target)
        if "assignee_id" in sent and target == "new":
            edits.pop("assignee_id")
        after = await move(tx, row, target=target, actor=actor, edits=edits, reason=body.reason, force=body.force)
    else:
        if status in ("done", "canceled") and edits:
            raise Conflict(f"a {status} request cannot be edited (reopen it first)", code="request-closed",
                           allowed_next=[])
        after = await repo.update_request(conn, request_id, edits) if edits else row
        reassigned = "assignee_id" in edits and edits["assignee_id"] != row["assignee_id"]
        if reassigned:
            await _reassigned(tx, row, after, actor=actor, reason=body.reason)
    window_changed = (after["window_start"], after["window_end"]) != (row["window_start"], row["window_end"])
    if (window_changed and after["assignee_id"] and after["status"] in OPEN_STATUSES
            and target != "assigned" and not reassigned):
        await _rescheduled(tx, row, after, actor=actor, reason=body.reason)
    return request_view(after)


async def _reassigned(tx: Tx, before: asyncpg.Record, after: asyncpg.Record, *, actor: str,
                      reason: str | None) -> None:
    await repo.add_history(tx.conn, org_id=tx.org_id, request_id=after["id"], kind="reassigned", actor_id=actor,
                           reason=reason, details={"from": before["assignee_id"], "to": after["assignee_id"]})
    await tx.emit(_assigned_event(after, RequestAssigned), subject=after["id"])


async def _rescheduled(tx: Tx, before: asyncpg.Record, after: asyncpg.Record, *, actor: str,
                       reason: str | None) -> None:
    def win(r: asyncpg.Record) -> dict[str, Any] | None:
        w = window_of(r)
        return None if w is None else w.model_dump(mode="json")

    await repo.add_history(tx.conn, org_id=after["org_id"], request_id=after["id"], kind="rescheduled",
                           actor_id=actor, reason=reason, details={"from": win(before), "to": win(after)})
    if after["assignee_id"]:
        await tx.emit(_assigned_event(after, RequestRescheduled), subject=after["id"])


async def act(tx: Tx, request_id: str, action: str, body: ActionIn | CompleteIn, *,
              if_match: str | None) -> dict[str, Any]:
    """POST /v1/requests/{id}/<action>: a named move (who may make it is checked by the route)."""
    row = await load_request(tx, request_id, for_update=True, if_match=if_match)
    check_action(action, row["status"])
    force = body.force if isinstance(body, CompleteIn) else False
    after = await move(tx, row, target=ACTION_TARGET[action], actor=actor_of(tx.caller), reason=body.reason,
                       force=force)
    return request_view(after)


async def assign(tx: Tx, request_id: str, body: AssignIn, *, if_match: str | None,
                 wait_seconds: float) -> dict[str, Any]:
    """Assign a technician (new → assigned), or re-assign an assigned request to another one."""
    await check_references(tx, building_id=None, unit_id=None, assignee_id=body.assignee_id,
                           wait_seconds=wait_seconds)
    row = await load_request(tx, request_id, for_update=True, if_match=if_match)
    edits: dict[str, Any] = {"assignee_id": body.assignee_id}
    if body.scheduled_window is not None:
        edits.update(_window_fields(body.scheduled_window))
    actor = actor_of(tx.caller)
    if row["status"] == "assigned":  # re-assignment: same state, new technician
        after = await repo.update_request(tx.conn, request_id, edits)
        await _reassigned(tx, row, after, actor=actor, reason=body.reason)
        return request_view(after)
    check_action("assign", row["status"])
    after = await move(tx, row, target="assigned", actor=actor, edits=edits, reason=body.reason)
    return request_view(after)


async def reschedule(tx: Tx, request_id: str, body: RescheduleIn, *, if_match: str | None) -> dict[str, Any]:
    """Set a new visit window on an open request (announced to access-control when it has a technician)."""
    row = await load_request(tx, request_id, for_update=True, if_match=if_match)
    if row["status"] not in OPEN_STATUSES:
        raise Conflict(f"a {row['status']} request cannot be rescheduled", code="request-closed", allowed_next=[])
    after = await repo.update_request(tx.conn, request_id, _window_fields(body.scheduled_window))
    await _rescheduled(tx, row, after, actor=actor_of(tx.caller), reason=body.reason)
    return request_view(after)


# --- comments ------------------------------------------------------------------------------------


async def add_comment(tx: Tx, request_id: str, body: CommentIn) -> dict[str, Any]:
    """Add a comment (technicians only on their own requests)."""
    await load_request(tx, request_id)
    return await write_comment(tx, request_id=request_id, author=actor_of(tx.caller), text=body.body)


async def write_comment(tx: Tx, *, request_id: str, author: str, text: str) -> dict[str, Any]:
    """Store a comment and announce it."""
    row = await repo.insert_comment(tx.conn, {"id": new_id("com"), "org_id": tx.org_id, "request_id": request_id,
                                              "author_id": author, "body": text})
    await tx.emit(RequestCommentAdded(request_id=request_id, org_id=tx.org_id, comment_id=row["id"],
                                      author_id=author, body=text, created_at=row["created_at"]), subject=request_id)
    return comment_view(row)


async def list_comments(tx: Tx, request_id: str, page: PageParams) -> tuple[list[dict[str, Any]], int]:
    """A page of a request's comments, oldest first."""
    await load_request(tx, request_id)
    rows, total = await repo.comments_of(tx.conn, request_id, limit=page.limit, offset=page.offset)
    return [comment_view(r) for r in rows], total


# --- settings --------------------------------------------------------------------------------------


async def get_settings(tx: Tx) -> dict[str, Any]:
    """The org's maintenance settings (defaults until set)."""
    stored, updated_at = await repo.get_sla_hours(tx.conn)
    return {"sla_hours": {**DEFAULT_SLA_HOURS, **(stored or {})}, "defaults": stored is None,
            "updated_at": None if updated_at is None else updated_at.isoformat()}


async def put_settings(tx: Tx, body: SettingsIn) -> dict[str, Any]:
    """Replace the org's SLA hours (requests opened from now on, or whose priority changes, use them)."""
    hours = body.sla_hours.model_dump()
    updated_at = await repo.put_sla_hours(tx.conn, org_id=tx.org_id, sla_hours=hours)
    return {"sla_hours": hours, "defaults": False, "updated_at": updated_at.isoformat()}
