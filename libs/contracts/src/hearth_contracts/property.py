"""Facts the property service publishes on `property.events`, keyed by the aggregate id."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hearth_contracts.common import Address, Money
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


# --- units -------------------------------------------------------------------------------------

UnitStatus = Literal["available", "reserved", "sold", "off_market", "rented"]
UnitVisibility = Literal["public", "agents", "team", "private"]
SizeUnit = Literal["sqm", "sqft"]


class UnitSize(BaseModel):
    """A unit's floor and land area."""

    model_config = ConfigDict(frozen=True)

    interior: Decimal | None = Field(default=None, description="Interior area, in `unit`")
    land: Decimal | None = Field(default=None, description="Land/plot area, in `unit`")
    unit: SizeUnit = Field(default="sqm", description="Area unit: sqm or sqft")


class UnitSnapshot(_PropertyEvent):
    """The whole unit as it stands after the change (event-carried state)."""

    unit_id: str = Field(description="Unit id, unit_...")
    org_id: str = Field(description="Owning org, org_...")
    building_id: str = Field(description="Building the unit belongs to, bld_...")
    name: str = Field(description="Unit name, e.g. Villa A")
    unit_number: str | None = Field(default=None, description="Unit number/code, unique per building")
    type: str | None = Field(default=None, description="Free-form unit type, e.g. 3BR Villa")
    status: UnitStatus = Field(description="Sales/letting status")
    bedrooms: int | None = Field(default=None, description="Number of bedrooms")
    bathrooms: Decimal | None = Field(default=None, description="Number of bathrooms (halves allowed)")
    size: UnitSize | None = Field(default=None, description="Areas")
    price: Money = Field(description="Asking price or rent, exact")
    features: list[str] = Field(default_factory=list, description="Feature tags")
    floor_plan: str | None = Field(default=None, description="Floor plan URL")
    gallery: list[str] = Field(default_factory=list, description="Image URLs")
    visibility: UnitVisibility = Field(description="Who may see the unit")
    assigned_agent: str | None = Field(default=None, description="Assigned agent id, agt_...")
    created_at: datetime
    updated_at: datetime


@register
class UnitCreated(UnitSnapshot):
    """A unit was created."""

    event_type = "hearth.unit.created.v1"


@register
class UnitUpdated(UnitSnapshot):
    """A unit's details (other than its status) changed."""

    event_type = "hearth.unit.updated.v1"


@register
class UnitStatusChanged(UnitSnapshot):
    """A unit moved to another status (by a user, a bulk update, or a lease starting/ending)."""

    event_type = "hearth.unit.status_changed.v1"
    previous_status: UnitStatus = Field(description="Status before the change")


@register
class UnitDeleted(_PropertyEvent):
    """A unit was deleted."""

    event_type = "hearth.unit.deleted.v1"
    unit_id: str = Field(description="Unit id, unit_...")
    org_id: str = Field(description="Owning org, org_...")
    building_id: str = Field(description="Building the unit belonged to, bld_...")


# --- agents ------------------------------------------------------------------------------------


class AgentSnapshot(_PropertyEvent):
    """The whole agent record after the change."""

    agent_id: str = Field(description="Agent id, agt_...")
    org_id: str = Field(description="Owning org, org_...")
    name: str = Field(description="Full name")
    email: str | None = Field(default=None, description="E-mail address")
    phone: str | None = Field(default=None, description="Phone number")
    created_at: datetime
    updated_at: datetime


@register
class AgentCreated(AgentSnapshot):
    """An agent was created."""

    event_type = "hearth.agent.created.v1"


@register
class AgentUpdated(AgentSnapshot):
    """An agent's details changed."""

    event_type = "hearth.agent.updated.v1"


# --- residents ---------------------------------------------------------------------------------

ResidentStatus = Literal["active", "inactive", "former"]


class EmergencyContact(BaseModel):
    """Someone to call for a resident."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="Contact's name")
    phone: str = Field(description="Contact's phone number")
    relationship: str | None = Field(default=None, description="e.g. spouse, parent")


class ResidentSnapshot(_PropertyEvent):
    """The whole resident record after the change."""

    resident_id: str = Field(description="Resident id, res_...")
    org_id: str = Field(description="Owning org, org_...")
    name: str = Field(description="Full name")
    email: str | None = Field(default=None, description="E-mail address")
    phone: str | None = Field(default=None, description="Phone number")
    emergency_contacts: list[EmergencyContact] = Field(default_factory=list, description="Emergency contacts")
    status: ResidentStatus = Field(description="active (lives here or about to), inactive (on file), former")
    created_at: datetime
    updated_at: datetime


@register
class ResidentCreated(ResidentSnapshot):
    """A resident was created."""

    event_type = "hearth.resident.created.v1"


@register
class ResidentUpdated(ResidentSnapshot):
    """A resident's details (other than status) changed."""

    event_type = "hearth.resident.updated.v1"


@register
class ResidentStatusChanged(ResidentSnapshot):
    """A resident moved to another status."""

    event_type = "hearth.resident.status_changed.v1"
    previous_status: ResidentStatus = Field(description="Status before the change")


@register
class ResidentDeleted(_PropertyEvent):
    """A resident was deleted (only possible without an active or future lease)."""

    event_type = "hearth.resident.deleted.v1"
    resident_id: str = Field(description="Resident id, res_...")
    org_id: str = Field(description="Owning org, org_...")


# --- leases ------------------------------------------------------------------------------------

LeaseType = Literal["fixed", "fixed_with_rollover", "at_will"]
LeaseStatus = Literal["future", "active", "past", "terminated"]


class LeaseSnapshot(_PropertyEvent):
    """The whole lease after the change; billing charges rent from it."""

    lease_id: str = Field(description="Lease id, lease_...")
    org_id: str = Field(description="Owning org, org_...")
    unit_id: str = Field(description="Leased unit, unit_...")
    building_id: str = Field(description="Building of the unit, bld_...")
    resident_ids: list[str] = Field(description="Residents on the lease, res_...")
    type: LeaseType = Field(description="fixed, fixed_with_rollover or at_will")
    start_date: date = Field(description="First day of the lease (building's local date)")
    end_date: date | None = Field(default=None, description="Last day of the lease; null = open-ended")
    rent: Money = Field(description="Rent per month")
    deposit: Money = Field(description="Security deposit")
    payment_due_day: int = Field(description="Day of month rent is due, 1..28")
    status: LeaseStatus = Field(description="Status on the day of the event, in the building's time zone")
    terminated_on: date | None = Field(default=None, description="Effective termination date, if terminated")
    termination_reason: str | None = Field(default=None, description="Why it was terminated")
    created_at: datetime
    updated_at: datetime


@register
class LeaseCreated(LeaseSnapshot):
    """A lease was signed (it may start later)."""

    event_type = "hearth.lease.created.v1"


@register
class LeaseActivated(LeaseSnapshot):
    """A lease started running today (its unit is now rented)."""

    event_type = "hearth.lease.activated.v1"


@register
class LeaseTerminated(LeaseSnapshot):
    """Someone terminated a lease early (effective on `terminated_on`)."""

    event_type = "hearth.lease.terminated.v1"


@register
class LeaseEnded(LeaseSnapshot):
    """A lease stopped running: it expired or its termination took effect."""

    event_type = "hearth.lease.ended.v1"
    reason: Literal["expired", "terminated"] = Field(description="expired (end date passed) or terminated")
