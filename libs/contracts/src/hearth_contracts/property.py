"""Facts the property service publishes on `property.events`, keyed by the aggregate id."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from hearth_contracts.common import Address
from hearth_contracts.envelope import EventData
from hearth_contracts.registry import register
from hearth_contracts.topics import PROPERTY_EVENTS

BuildingType = Literal["residential", "commercial", "mixed"]
BuildingStatus = Literal["active", "inactive", "maintenance"]


class _PropertyEvent(EventData):
    topic = PROPERTY_EVENTS.name


class BuildingSnapshot(_PropertyEvent):
    """The whole building as it stands after the change (event-carried state)."""

    building_id: str = Field(description="Building id, bld_...")
    org_id: str = Field(description="Owning org, org_...")
    name: str
    type: BuildingType
    address: Address
    timezone: str = Field(description="IANA time zone, e.g. Europe/Berlin")
    status: BuildingStatus
    created_at: datetime
    updated_at: datetime


@register
class BuildingCreated(BuildingSnapshot):
    """A building was created."""

    event_type = "hearth.building.created.v1"


@register
class BuildingUpdated(BuildingSnapshot):
    """A building's details changed."""

    event_type = "hearth.building.updated.v1"


@register
class BuildingStatusChanged(BuildingSnapshot):
    """A building moved to another status."""

    event_type = "hearth.building.status_changed.v1"
    previous_status: BuildingStatus


@register
class BuildingDeleted(_PropertyEvent):
    """A building was deleted."""

    event_type = "hearth.building.deleted.v1"
    building_id: str
    org_id: str
