"""Maintenance rules with no I/O: the lifecycle, who may do what, SLAs, how events become requests, input shapes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

from hearth_contracts.maintenance import RequestCategory, RequestPriority, RequestSource, RequestStatus
from hearth_kit.auth import Principal
from hearth_kit.errors import Conflict, Forbidden, InvalidInput
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

Status = RequestStatus
Priority = RequestPriority
Category = RequestCategory
Source = RequestSource
Action = Literal["assign", "unassign", "start", "hold", "resume", "complete", "cancel", "reopen"]

STATUSES: tuple[Status, ...] = get_args(RequestStatus)
OPEN_STATUSES: frozenset[str] = frozenset({"new", "assigned", "in_progress", "on_hold"})
CLOSED_STATUSES: frozenset[str] = frozenset({"done", "canceled"})

# The whole lifecycle: PATCH {"status"} and every action go through this one table.
LIFECYCLE: dict[str, frozenset[str]] = {
    "new": frozenset({"assigned", "canceled"}),
    "assigned": frozenset({"in_progress", "new", "canceled"}),
    "in_progress": frozenset({"on_hold", "done", "canceled"}),
    "on_hold": frozenset({"in_progress", "canceled"}),
    "done": frozenset({"new"}),
    "canceled": frozenset(),
}

# Actions are names for moves; two names may reach one state (start/resume, reopen/unassign).
ACTION_TARGET: dict[str, Status] = {
    "assign": "assigned", "unassign": "new", "start": "in_progress", "hold": "on_hold",
    "resume": "in_progress", "complete": "done", "cancel": "canceled", "reopen": "new",
}

# A technician moves the work assigned to them along; assigning, canceling and reopening are for managers.
TECHNICIAN_TARGETS: frozenset[str] = frozenset({"in_progress", "on_hold", "done"})
MANAGING_ROLES: frozenset[str] = frozenset({"admin", "manager"})
CREATING_ROLES: frozenset[str] = MANAGING_ROLES | {"leasing_agent"}
COMMENTING_ROLES: frozenset[str] = CREATING_ROLES | {"technician"}

DEFAULT_SLA_HOURS: dict[str, int] = {"emergency": 4, "high": 24, "normal": 72, "low": 168}
PRIORITY_RANK: dict[str, int] = {"low": 0, "normal": 1, "high": 2, "emergency": 3}
MAX_COMMENT = 10_000
MAX_SLA_HOURS = 24 * 365


def allowed_next(current: str) -> list[str]:
    """The states a request in `current` may move to, in lifecycle order."""
    return [s for s in STATUSES if s in LIFECYCLE.get(current, frozenset())]


def check_transition(current: str, target: str) -> None:
    """409 with the allowed next states unless `current → target` is in the lifecycle."""
    if target not in LIFECYCLE.get(current, frozenset()):
        allowed = allowed_next(current)
        raise Conflict(f"a request cannot move from {current} to {target}"
                       + (f"; allowed next: {', '.join(allowed)}" if allowed else f"; {current} is terminal"),
                       code="illegal-transition", current_status=current, requested_status=target,
                       allowed_next=allowed)


# The two names for `→ new` each apply to one state: reopen a done request, unassign an assigned one.
_ACTION_ONLY_FROM: dict[str, str] = {"reopen": "done", "unassign": "assigned"}


def check_action(action: str, current: str) -> None:
    """409 with the allowed next states unless `action` is a legal move from `current`."""
    check_transition(current, ACTION_TARGET[action])
    only = _ACTION_ONLY_FROM.get(action)
    if only is not None and current != only:
        raise Conflict(f"{action} applies to {only} requests, not {current}", code="illegal-transition",
                       current_status=current, requested_status=ACTION_TARGET[action],
                       allowed_next=allowed_next(current))


def check_may_move(principal: Principal, target: str) -> None:
    """403 unless the caller's role may move a request into `target` (technician scoping is in the query)."""
    if principal.role in MANAGING_ROLES:
        return
    if principal.role == "technician" and target in TECHNICIAN_TARGETS:
        return
    raise Forbidden(f"role '{principal.role}' may not move a request to {target}")


def require_role(principal: Principal, roles: frozenset[str], what: str) -> None:
    """403 unless the caller has one of `roles` (for rules that depend on the body, e.g. which PATCH fields)."""
    if principal.role not in roles:
        raise Forbidden(f"role '{principal.role}' may not {what}")


def field_error(field: str, message: str, code: str = "validation-error") -> InvalidInput:
    """A 422 naming the one field at fault."""
    return InvalidInput(message, code=code, errors=[{"field": field, "message": message, "code": code}])


def narrowed_to(principal: Principal) -> tuple[bool, str | None]:
    """(narrowed, assignee): a technician sees only the requests assigned to their own member."""
    if principal.role == "technician":
        return True, principal.member_id
    return False, None


def actor_of(principal: Principal) -> str:
    """Who a history entry names: the member when the key belongs to one, else the key."""
    return principal.member_id or principal.subject


def due_at(created_at: datetime, priority: str, sla_hours: dict[str, int]) -> datetime:
    """The SLA deadline of a request opened at `created_at`."""
    return created_at + timedelta(hours=sla_hours.get(priority, DEFAULT_SLA_HOURS[priority]))


def is_overdue(status: str, due: datetime | None, now: datetime) -> bool:
    """Open and past its deadline."""
    return status in OPEN_STATUSES and due is not None and due < now


# --- requests opened by events -------------------------------------------------------------------

_SENSOR_CATEGORY: dict[str, Category] = {
    "water_leak": "plumbing", "temperature": "hvac", "humidity": "hvac", "co2": "hvac",
    "energy": "electrical", "door_contact": "locks", "smoke": "general", "occupancy": "general",
}
_SEVERITY_PRIORITY: dict[str, Priority] = {"critical": "high", "warning": "normal", "info": "low"}
LOCK_FACT_PRIORITY: dict[str, Priority] = {
    "hearth.lock.jammed.v1": "high", "hearth.lock.tampered.v1": "high",
    "hearth.lock.battery_low.v1": "normal", "hearth.lock.offline.v1": "normal",
}
_LOCK_FACT_TITLE: dict[str, str] = {
    "hearth.lock.jammed.v1": "Lock jammed", "hearth.lock.tampered.v1": "Lock tampering reported",
    "hearth.lock.battery_low.v1": "Lock battery low", "hearth.lock.offline.v1": "Lock offline",
}


def alert_request(sensor_kind: str, severity: str) -> tuple[Category, Priority]:
    """(category, priority) of a request a sensor alert opens: water leaks are plumbing emergencies."""
    if sensor_kind == "water_leak":
        return "plumbing", "emergency"
    return _SENSOR_CATEGORY.get(sensor_kind, "general"), _SEVERITY_PRIORITY.get(severity, "normal")


def lock_fact_title(event_type: str, lock_id: str) -> str:
    """Title of a request a lock fact opens."""
    return f"{_LOCK_FACT_TITLE.get(event_type, 'Lock problem')}: {lock_id}"


# --- input shapes ------------------------------------------------------------------------------


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http(s) URL")
    return value


def _plausible_time(value: datetime) -> datetime:
    # far-off years overflow when converted to UTC for Postgres; no request is that old or that far ahead
    if not 1900 <= value.year <= 2200:
        raise ValueError("must be between the years 1900 and 2200")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
Moment = Annotated[datetime, AfterValidator(_plausible_time)]
Url = Annotated[str, Field(max_length=2000), AfterValidator(_no_nul), AfterValidator(_http_url)]
_ID = "[0-9A-Za-z]{1,64}"
BuildingId = Annotated[str, Field(pattern=f"^bld_{_ID}$", description="Building id, bld_...")]
UnitId = Annotated[str, Field(pattern=f"^unit_{_ID}$", description="Unit id, unit_...")]
MemberId = Annotated[str, Field(pattern=f"^mem_{_ID}$", description="Technician member id, mem_...")]
ReporterId = Annotated[str, Field(pattern=f"^(res|mem|key|usr)_{_ID}$", description="Resident or user who reported it")]
Reason = Annotated[Text | None, Field(default=None, max_length=1000, description="Why (kept in the history)")]

_Strict = ConfigDict(extra="forbid", str_strip_whitespace=True)


class WindowIn(BaseModel):
    """A scheduled visit window."""

    model_config = _Strict

    start: Moment = Field(description="Window start (RFC 3339 with offset)")
    end: Moment = Field(description="Window end, after start")

    @model_validator(mode="after")
    def _ordered(self) -> WindowIn:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window times need a UTC offset (RFC 3339)")
        if self.end <= self.start:
            raise ValueError("window end must be after its start")
        return self


class RequestIn(BaseModel):
    """The body of POST /v1/requests."""

    model_config = _Strict

    building_id: BuildingId
    unit_id: UnitId | None = None
    title: Text = Field(min_length=1, max_length=200)
    description: Text = Field(default="", max_length=MAX_COMMENT)
    category: Category = "general"
    priority: Priority = "normal"
    source: Source = "staff"
    reporter_id: ReporterId | None = None
    permission_to_enter: bool = False
    entry_notes: Text | None = Field(default=None, max_length=2000)
    assignee_id: MemberId | None = None
    vendor_name: Text | None = Field(default=None, max_length=200)
    scheduled_window: WindowIn | None = None
    attachments: list[Url] = Field(default_factory=list, max_length=20, description="http(s) URLs")


class RequestPatch(BaseModel):
    """The body of PATCH /v1/requests/{id}: seed 000's status update and field edits; only sent fields change."""

    model_config = _Strict

    status: Status | None = None
    reason: Reason = None
    force: bool = Field(default=False, description="Complete although its sensor alert is still raised (managers)")
    title: Text | None = Field(default=None, min_length=1, max_length=200)
    description: Text | None = Field(default=None, max_length=MAX_COMMENT)
    category: Category | None = None
    priority: Priority | None = None
    permission_to_enter: bool | None = None
    entry_notes: Text | None = Field(default=None, max_length=2000)
    assignee_id: MemberId | None = None
    vendor_name: Text | None = Field(default=None, max_length=200)
    scheduled_window: WindowIn | None = None
    attachments: list[Url] | None = Field(default=None, max_length=20)

    @model_validator(mode="after")
    def _required_stay_set(self) -> RequestPatch:
        for name in ("title", "category", "priority", "permission_to_enter", "attachments"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class ActionIn(BaseModel):
    """Body of start/hold/resume/cancel/reopen/unassign (optional)."""

    model_config = _Strict

    reason: Reason = None


class AssignIn(BaseModel):
    """Body of POST /v1/requests/{id}/assign."""

    model_config = _Strict

    assignee_id: MemberId
    scheduled_window: WindowIn | None = None
    reason: Reason = None


class CompleteIn(BaseModel):
    """Body of POST /v1/requests/{id}/complete."""

    model_config = _Strict

    reason: Reason = None
    force: bool = Field(default=False, description="Complete although its sensor alert is still raised (managers)")


class RescheduleIn(BaseModel):
    """Body of POST /v1/requests/{id}/reschedule."""

    model_config = _Strict

    scheduled_window: WindowIn
    reason: Reason = None


class CommentIn(BaseModel):
    """Body of POST /v1/requests/{id}/comments."""

    model_config = _Strict

    body: Text = Field(min_length=1, max_length=MAX_COMMENT)


class SlaHours(BaseModel):
    """Hours from opening to the deadline, per priority."""

    model_config = _Strict

    emergency: int = Field(ge=1, le=MAX_SLA_HOURS)
    high: int = Field(ge=1, le=MAX_SLA_HOURS)
    normal: int = Field(ge=1, le=MAX_SLA_HOURS)
    low: int = Field(ge=1, le=MAX_SLA_HOURS)


class SettingsIn(BaseModel):
    """Body of PUT /v1/maintenance-settings."""

    model_config = _Strict

    sla_hours: SlaHours


def dump_window(window: WindowIn | None) -> dict[str, Any] | None:
    """A window as stored (start/end) or None."""
    return None if window is None else {"start": window.start, "end": window.end}
