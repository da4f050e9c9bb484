"""Facts the maintenance service publishes on `maintenance.events`, keyed by request id (DESIGN §4a).

The maintenance service adds its other events here; these cross into access-control (technician codes).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hearth_contracts.envelope import EventData
from hearth_contracts.registry import register
from hearth_contracts.topics import MAINTENANCE_EVENTS


class TimeWindow(BaseModel):
    """A scheduled visit window."""

    model_config = ConfigDict(frozen=True)

    start: datetime = Field(description="Window start (RFC 3339)")
    end: datetime = Field(description="Window end (RFC 3339), after start")


class _MaintenanceEvent(EventData):
    topic = MAINTENANCE_EVENTS.name

    request_id: str = Field(description="Request id, req_...")
    org_id: str = Field(description="Owning org, org_...")


class _Scheduled(_MaintenanceEvent):
    building_id: str = Field(description="Building of the request, bld_...")
    unit_id: str | None = Field(default=None, description="Unit of the request, unit_..., if any")
    assignee_id: str = Field(description="Technician member, mem_...")
    permission_to_enter: bool = Field(description="Whether the technician may enter without the resident")
    window: TimeWindow | None = Field(default=None, description="Scheduled visit window, if any")


@register
class RequestAssigned(_Scheduled):
    """A request was assigned to a technician."""

    event_type = "hearth.request.assigned.v1"


@register
class RequestRescheduled(_Scheduled):
    """An assigned request's visit window changed."""

    event_type = "hearth.request.rescheduled.v1"


@register
class RequestCompleted(_MaintenanceEvent):
    """A request's work is done."""

    event_type = "hearth.request.completed.v1"
    building_id: str | None = Field(default=None, description="Building of the request, bld_...")
    unit_id: str | None = Field(default=None, description="Unit of the request, unit_..., if any")
    reason: str | None = Field(default=None, description="Completion note")
    completed_at: datetime | None = Field(default=None, description="When it was completed")


@register
class RequestCanceled(_MaintenanceEvent):
    """A request was canceled."""

    event_type = "hearth.request.canceled.v1"
    building_id: str | None = Field(default=None, description="Building of the request, bld_...")
    unit_id: str | None = Field(default=None, description="Unit of the request, unit_..., if any")
    reason: str | None = Field(default=None, description="Why it was canceled")


@register
class RequestUnassigned(_MaintenanceEvent):
    """An assigned request went back to `new` without a technician: the technician's access ends."""

    event_type = "hearth.request.unassigned.v1"
    building_id: str | None = Field(default=None, description="Building of the request, bld_...")
    unit_id: str | None = Field(default=None, description="Unit of the request, unit_..., if any")
    previous_assignee_id: str | None = Field(default=None, description="Technician member it was assigned to")
    reason: str | None = Field(default=None, description="Why it was unassigned")


# --- the service's other facts (additive; consumed by webhooks and anyone interested) -------------

RequestStatus = Literal["new", "assigned", "in_progress", "on_hold", "done", "canceled"]
RequestPriority = Literal["low", "normal", "high", "emergency"]
RequestCategory = Literal["plumbing", "electrical", "hvac", "appliance", "locks", "pest", "general"]
RequestSource = Literal["resident", "staff", "sensor", "lock", "partner"]


@register
class RequestCreated(_MaintenanceEvent):
    """A request was opened (by a person, a sensor alert or a lock fact)."""

    event_type = "hearth.request.created.v1"
    building_id: str = Field(description="Building of the request, bld_...")
    unit_id: str | None = Field(default=None, description="Unit of the request, unit_..., if any")
    title: str = Field(description="Short summary")
    category: RequestCategory = Field(description="Trade the work needs")
    priority: RequestPriority = Field(description="low, normal, high or emergency")
    source: RequestSource = Field(description="Who or what opened it")
    due_at: datetime = Field(description="SLA deadline from the org's settings for its priority")
    created_at: datetime = Field(description="When it was opened")


@register
class RequestStatusChanged(_MaintenanceEvent):
    """A request moved from one lifecycle state to another."""

    event_type = "hearth.request.status_changed.v1"
    building_id: str = Field(description="Building of the request, bld_...")
    unit_id: str | None = Field(default=None, description="Unit of the request, unit_..., if any")
    previous_status: RequestStatus = Field(description="Status before the move")
    status: RequestStatus = Field(description="Status after the move")
    reason: str | None = Field(default=None, description="Why, when given")
    actor_id: str = Field(description="Member (mem_...) or API key (key_...) that moved it, or `system`")
    at: datetime = Field(description="When it moved")


@register
class RequestReopened(_MaintenanceEvent):
    """A done request was reopened (back to new)."""

    event_type = "hearth.request.reopened.v1"
    building_id: str = Field(description="Building of the request, bld_...")
    unit_id: str | None = Field(default=None, description="Unit of the request, unit_..., if any")
    reopen_count: int = Field(description="How many times it has been reopened, including this one")
    reason: str | None = Field(default=None, description="Why it was reopened")


@register
class RequestCommentAdded(_MaintenanceEvent):
    """A comment was added to a request."""

    event_type = "hearth.request.comment_added.v1"
    comment_id: str = Field(description="Comment id, com_...")
    author_id: str = Field(description="Member, API key or `system` (automated notes)")
    body: str = Field(description="Comment text")
    created_at: datetime = Field(description="When it was written")


@register
class RequestOverdue(_MaintenanceEvent):
    """An open request passed its SLA deadline (announced once per request)."""

    event_type = "hearth.request.overdue.v1"
    building_id: str = Field(description="Building of the request, bld_...")
    unit_id: str | None = Field(default=None, description="Unit of the request, unit_..., if any")
    priority: RequestPriority = Field(description="Priority the SLA came from")
    status: RequestStatus = Field(description="Status when it became overdue")
    assignee_id: str | None = Field(default=None, description="Technician member, if assigned")
    due_at: datetime = Field(description="The deadline that passed")
