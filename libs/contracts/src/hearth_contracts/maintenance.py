"""Facts the maintenance service publishes on `maintenance.events`, keyed by request id (DESIGN §4a).

The maintenance service adds its other events here; these cross into access-control (technician codes).
"""

from __future__ import annotations

from datetime import datetime

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
