"""What the property API answers: one pydantic model per document, for the OpenAPI schema.

The views (`service/views.py`) build these shapes from rows; an integration test validates real
responses against these models so the documentation cannot drift from what is sent.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel

from hearth_property.domain import (
    BuildingStatus,
    BuildingType,
    LeaseStatus,
    LeaseType,
    ResidentStatus,
    SizeUnit,
    UnitStatus,
    Visibility,
)


class Money(BaseModel):
    """An exact amount: a decimal string with two places, and an ISO 4217 code."""

    amount: str
    currency: str


class Address(BaseModel):
    line1: str
    line2: str | None = None
    city: str
    region: str | None = None
    postal_code: str | None = None
    country: str


class Building(BaseModel):
    id: str
    name: str
    type: BuildingType
    address: Address
    timezone: str
    status: BuildingStatus
    units: int
    occupied_units: int
    occupancy: float
    created_at: datetime
    updated_at: datetime


class Agent(BaseModel):
    id: str
    name: str
    email: str | None
    phone: str | None
    created_at: datetime
    updated_at: datetime


class Size(BaseModel):
    interior: str | None
    land: str | None
    unit: SizeUnit


class Unit(BaseModel):
    id: str
    building_id: str
    property_id: str
    name: str
    unit_number: str | None
    type: str | None
    status: UnitStatus
    bedrooms: int | None
    bathrooms: str | None
    size: Size | None
    price: Money
    features: list[str]
    floor_plan: str | None
    gallery: list[str]
    visibility: Visibility
    assigned_agent: str | None
    created_at: datetime
    updated_at: datetime
    building: Building | None = None  # with ?expand=building
    agent: Agent | None = None  # with ?expand=agent


class BulkStatusResult(BaseModel):
    updated: int
    unchanged: int
    status: UnitStatus
    unit_ids: list[str]


class EmergencyContact(BaseModel):
    name: str
    phone: str
    relationship: str | None = None


class Resident(BaseModel):
    id: str
    name: str
    email: str | None
    phone: str | None
    emergency_contacts: list[EmergencyContact]
    status: ResidentStatus
    created_at: datetime
    updated_at: datetime


class Lease(BaseModel):
    id: str
    unit_id: str
    building_id: str
    resident_ids: list[str]
    type: LeaseType
    start_date: date
    end_date: date | None
    rent: Money
    deposit: Money
    payment_due_day: int
    status: LeaseStatus
    terminated_on: date | None
    termination_reason: str | None
    created_at: datetime
    updated_at: datetime


class Payment(BaseModel):
    id: str
    lease_id: str | None
    amount: Money
    method: str | None
    paid_at: datetime
    reference: str | None


class ResidentDetail(Resident):
    """A resident with lease history and payments (projected from billing)."""

    leases: list[Lease]
    payments: list[Payment]
