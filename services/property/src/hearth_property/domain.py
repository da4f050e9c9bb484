"""Property rules with no I/O: input shapes, allowed values, lease status, visibility, sorting."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo, available_timezones

from hearth_contracts.common import Address
from hearth_kit.errors import BadRequest, InvalidInput
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

BuildingType = Literal["residential", "commercial", "mixed"]
BuildingStatus = Literal["active", "inactive", "maintenance"]
UnitStatus = Literal["available", "reserved", "sold", "off_market", "rented"]
Visibility = Literal["public", "agents", "team", "private"]
SizeUnit = Literal["sqm", "sqft"]
ResidentStatus = Literal["active", "inactive", "former"]
LeaseType = Literal["fixed", "fixed_with_rollover", "at_will"]
LeaseStatus = Literal["future", "active", "past", "terminated"]

_ZONES = frozenset(available_timezones())
MAX_BULK_CREATE = 500
MAX_BULK_STATUS = 1000

_Strict = ConfigDict(extra="forbid", str_strip_whitespace=True)


# --- buildings ---------------------------------------------------------------------------------


class AddressIn(BaseModel):
    """A postal address as a client sends it."""

    model_config = _Strict

    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    region: str | None = Field(default=None, max_length=100)
    postal_code: str | None = Field(default=None, max_length=20)
    country: str = Field(min_length=2, max_length=2, pattern="^[A-Za-z]{2}$", description="ISO 3166-1 alpha-2")

    @field_validator("country")
    @classmethod
    def _upper(cls, v: str) -> str:
        return v.upper()

    def to_contract(self) -> Address:
        return Address(**self.model_dump())


def valid_timezone(value: str) -> str:
    """An IANA zone name, or ValueError."""
    if value not in _ZONES:
        raise ValueError(f"'{value}' is not an IANA time zone (e.g. Europe/Berlin)")
    return value


class BuildingIn(BaseModel):
    """The body of POST /v1/buildings (and PUT, which replaces every field)."""

    model_config = _Strict

    name: str = Field(min_length=1, max_length=200)
    type: BuildingType
    address: AddressIn
    timezone: str = Field(default="UTC", max_length=64, description="IANA time zone")
    status: BuildingStatus = "active"

    _tz = field_validator("timezone")(classmethod(lambda cls, v: valid_timezone(v)))


class BuildingPatch(BaseModel):
    """The body of PATCH /v1/buildings/{id}: only the fields sent change."""

    model_config = _Strict

    name: str | None = Field(default=None, min_length=1, max_length=200)
    type: BuildingType | None = None
    address: AddressIn | None = None
    timezone: str | None = Field(default=None, max_length=64)
    status: BuildingStatus | None = None

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        return None if v is None else valid_timezone(v)

    @model_validator(mode="after")
    def _no_nulls(self) -> BuildingPatch:
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


def occupancy(units: int, occupied: int) -> float:
    """Share of units occupied, rounded as the seeds show it (0.97)."""
    return round(occupied / units, 4) if units else 0.0


# --- money -------------------------------------------------------------------------------------


class MoneyIn(BaseModel):
    """An exact amount as a client sends it: a JSON string ("850000.00") or number, at most 2 decimals."""

    model_config = ConfigDict(extra="forbid")

    amount: Decimal = Field(ge=0, max_digits=16, decimal_places=2, description='e.g. "850000.00"')
    currency: str = Field(pattern="^[A-Za-z]{3}$", description="ISO 4217 code")

    @field_validator("currency")
    @classmethod
    def _upper(cls, v: str) -> str:
        return v.upper()


def money_out(amount: Decimal, currency: str) -> dict[str, str]:
    """Money as the API and events show it: amount as a string with two decimals."""
    return {"amount": str(Decimal(amount).quantize(Decimal("0.01"))), "currency": currency.strip()}


# --- units -------------------------------------------------------------------------------------


class SizeIn(BaseModel):
    """A unit's areas."""

    model_config = ConfigDict(extra="forbid")

    interior: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=2)
    land: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=2)
    unit: SizeUnit = "sqm"


def _url_list(v: list[str]) -> list[str]:
    return [s.strip() for s in v if s.strip()]


class UnitFields(BaseModel):
    """Every writable unit field except its building."""

    model_config = _Strict

    name: str = Field(min_length=1, max_length=200)
    unit_number: str | None = Field(default=None, min_length=1, max_length=50)
    type: str | None = Field(default=None, max_length=100)
    status: UnitStatus = "available"
    bedrooms: int | None = Field(default=None, ge=0, le=100)
    bathrooms: Decimal | None = Field(default=None, ge=0, le=100, decimal_places=1)
    size: SizeIn | None = None
    price: MoneyIn
    features: list[str] = Field(default_factory=list, max_length=100)
    floor_plan: str | None = Field(default=None, max_length=2000)
    gallery: list[str] = Field(default_factory=list, max_length=100)
    visibility: Visibility = "public"
    assigned_agent: str | None = Field(default=None, max_length=64)

    _lists = field_validator("features", "gallery")(classmethod(lambda cls, v: _url_list(v)))


class UnitIn(UnitFields):
    """The body of POST /v1/units; `property_id` (seed 003) is accepted for `building_id`."""

    building_id: str = Field(min_length=1, max_length=64)

    @model_validator(mode="before")
    @classmethod
    def _alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and "property_id" in data:
            data = dict(data)
            alias = data.pop("property_id")
            if "building_id" in data and data["building_id"] != alias:
                raise ValueError("building_id and property_id disagree")
            data["building_id"] = alias
        return data


class UnitReplace(UnitFields):
    """The body of PUT /v1/units/{id}: every field; the building may be repeated but not changed."""

    building_id: str | None = Field(default=None, max_length=64)
    property_id: str | None = Field(default=None, max_length=64)


class UnitPatch(BaseModel):
    """The body of PATCH /v1/units/{id}: only the fields sent change (null clears an optional field)."""

    model_config = _Strict

    name: str | None = Field(default=None, min_length=1, max_length=200)
    unit_number: str | None = Field(default=None, min_length=1, max_length=50)
    type: str | None = Field(default=None, max_length=100)
    status: UnitStatus | None = None
    bedrooms: int | None = Field(default=None, ge=0, le=100)
    bathrooms: Decimal | None = Field(default=None, ge=0, le=100, decimal_places=1)
    size: SizeIn | None = None
    price: MoneyIn | None = None
    features: list[str] | None = Field(default=None, max_length=100)
    floor_plan: str | None = Field(default=None, max_length=2000)
    gallery: list[str] | None = Field(default=None, max_length=100)
    visibility: Visibility | None = None
    assigned_agent: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _required_not_null(self) -> UnitPatch:
        for name in ("name", "status", "price", "features", "gallery", "visibility"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class BulkStatusIn(BaseModel):
    """The body of PATCH /v1/units/bulk/status."""

    model_config = _Strict

    unit_ids: list[str] = Field(min_length=1, max_length=MAX_BULK_STATUS)
    status: UnitStatus


# Which unit visibilities each role sees. "agents" = every staff member who sells or lets; "team" = the
# org's internal staff; "private" = admins and managers only; partners (integrations) see public units.
VISIBLE_TO: dict[str, frozenset[str]] = {
    "admin": frozenset({"public", "agents", "team", "private"}),
    "manager": frozenset({"public", "agents", "team", "private"}),
    "leasing_agent": frozenset({"public", "agents", "team"}),
    "technician": frozenset({"public", "agents", "team"}),
    "accountant": frozenset({"public", "agents", "team"}),
    "partner": frozenset({"public"}),
}


def visible_for(role: str) -> list[str]:
    """The visibilities a role may see (unknown roles see only public units)."""
    return sorted(VISIBLE_TO.get(role, frozenset({"public"})))


SORTS: dict[str, str] = {
    "price": "price_minor",
    "created_at": "created_at",
    "bedrooms": "bedrooms",
    "size": "size_sqm_x100",
    "unit_number": "unit_number",
}


@dataclass(frozen=True)
class Sort:
    """A validated sort: a known column and a direction."""

    column: str
    descending: bool


def parse_sort(value: str | None) -> Sort:
    """`price`, `-price`, ... → Sort; anything else is a 422 naming the allowed values."""
    if value is None or value == "":
        return Sort("created_at", True)
    descending = value.startswith("-")
    key = value[1:] if descending else value
    if key not in SORTS:
        allowed = [s for k in SORTS for s in (k, f"-{k}")]
        raise InvalidInput(f"sort '{value}' is not supported",
                           errors=[{"field": "sort", "message": f"must be one of: {', '.join(allowed)}",
                                    "code": "enum", "allowed": allowed}])
    return Sort(SORTS[key], descending)


def minor_units(value: Decimal, *, round_up: bool) -> int:
    """An amount in hundredths, rounded towards the inside of a range (filters compare bigint keys)."""
    scaled = value * 100
    return int(scaled.to_integral_value(rounding="ROUND_CEILING" if round_up else "ROUND_FLOOR"))


def check_price_range(min_price: Decimal | None, max_price: Decimal | None) -> None:
    """min_price above max_price is a 400 (the caller asked for an empty range by mistake)."""
    if min_price is not None and max_price is not None and min_price > max_price:
        raise BadRequest("min_price must not be greater than max_price", code="bad-price-range",
                         errors=[{"field": "min_price", "message": "greater than max_price"}])


EXPANDABLE = {"building": "building", "property": "building", "agent": "agent"}


def parse_expand(value: str | None) -> frozenset[str]:
    """`building,agent` (seed 003's `property` means building) → set; unknown names are a 422."""
    if not value:
        return frozenset()
    out: set[str] = set()
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        if part not in EXPANDABLE:
            raise InvalidInput(f"cannot expand '{part}'",
                               errors=[{"field": "expand", "message": "must be building, property or agent",
                                        "allowed": sorted(EXPANDABLE)}])
        out.add(EXPANDABLE[part])
    return frozenset(out)


# --- agents and residents ----------------------------------------------------------------------

_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class AgentIn(BaseModel):
    """The body of POST/PUT /v1/agents."""

    model_config = _Strict

    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=254, pattern=_EMAIL)
    phone: str | None = Field(default=None, max_length=40)


class AgentPatch(BaseModel):
    """The body of PATCH /v1/agents/{id}."""

    model_config = _Strict

    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=254, pattern=_EMAIL)
    phone: str | None = Field(default=None, max_length=40)

    @model_validator(mode="after")
    def _name_not_null(self) -> AgentPatch:
        if "name" in self.model_fields_set and self.name is None:
            raise ValueError("name cannot be null")
        return self


class EmergencyContactIn(BaseModel):
    """Someone to call for a resident."""

    model_config = _Strict

    name: str = Field(min_length=1, max_length=200)
    phone: str = Field(min_length=1, max_length=40)
    relationship: str | None = Field(default=None, max_length=50)


class ResidentIn(BaseModel):
    """The body of POST/PUT /v1/residents."""

    model_config = _Strict

    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=254, pattern=_EMAIL)
    phone: str | None = Field(default=None, max_length=40)
    emergency_contacts: list[EmergencyContactIn] = Field(default_factory=list, max_length=10)
    status: ResidentStatus = "active"


class ResidentPatch(BaseModel):
    """The body of PATCH /v1/residents/{id}."""

    model_config = _Strict

    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=254, pattern=_EMAIL)
    phone: str | None = Field(default=None, max_length=40)
    emergency_contacts: list[EmergencyContactIn] | None = Field(default=None, max_length=10)
    status: ResidentStatus | None = None

    @model_validator(mode="after")
    def _required_not_null(self) -> ResidentPatch:
        for name in ("name", "emergency_contacts", "status"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


# --- leases ------------------------------------------------------------------------------------


class LeaseIn(BaseModel):
    """The body of POST /v1/leases."""

    model_config = _Strict

    unit_id: str = Field(min_length=1, max_length=64)
    resident_ids: list[str] = Field(min_length=1, max_length=20)
    start_date: date
    end_date: date | None = None
    type: LeaseType = "fixed"
    rent: MoneyIn
    deposit: MoneyIn
    payment_due_day: int = Field(default=1, ge=1, le=28)

    @model_validator(mode="after")
    def _dates(self) -> LeaseIn:
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError("end_date must not be before start_date")
        if self.type == "fixed" and self.end_date is None:
            raise ValueError("a fixed lease needs an end_date")
        if len(set(self.resident_ids)) != len(self.resident_ids):
            raise ValueError("resident_ids contains duplicates")
        return self


class TerminateIn(BaseModel):
    """The body of POST /v1/leases/{id}/terminate."""

    model_config = _Strict

    date: dt.date | None = Field(default=None, description="Effective date (default: today, building time)")
    reason: str | None = Field(default=None, max_length=500)


def local_today(timezone: str, *, now: datetime | None = None) -> date:
    """Today's date in a building's time zone."""
    moment = now or datetime.now(ZoneInfo("UTC"))
    return moment.astimezone(ZoneInfo(timezone)).date()


def lease_status(*, start: date, end: date | None, terminated_on: date | None, today: date) -> LeaseStatus:
    """Status by the dates: `terminated` from the termination date on; else future/active/past.

    `end` is the last day of the lease (inclusive); `terminated_on` is the first day it no longer runs.
    """
    if terminated_on is not None and today >= terminated_on:
        return "terminated"
    if today < start:
        return "future"
    if end is not None and today > end:
        return "past"
    return "active"


def lease_span(*, start: date, end: date | None, terminated_on: date | None) -> tuple[date, date | None]:
    """The half-open [from, until) days a lease occupies its unit; None = open-ended."""
    until = end + timedelta(days=1) if end is not None else None
    if terminated_on is not None:
        until = terminated_on if until is None else min(until, terminated_on)
    return start, until


def spans_overlap(a: tuple[date, date | None], b: tuple[date, date | None]) -> bool:
    """Two half-open day ranges share at least one day."""
    a_from, a_until = a
    b_from, b_until = b
    if (a_until is not None and a_until <= a_from) or (b_until is not None and b_until <= b_from):
        return False  # an empty range (terminated before it started) overlaps nothing
    return (a_until is None or b_from < a_until) and (b_until is None or a_from < b_until)


Announced = Literal["none", "active", "ended"]


def announcement_due(status: LeaseStatus, announced: Announced) -> Literal["activate", "end", "close", None]:
    """What the sweep owes a lease: announce activation, announce its end, silently close, or nothing.

    A lease that never ran (terminated before its start, or entered after it was already over) is
    closed without events: nothing about its unit changed.
    """
    if status == "active" and announced == "none":
        return "activate"
    if status in ("past", "terminated"):
        if announced == "active":
            return "end"
        if announced == "none":
            return "close"
    return None
