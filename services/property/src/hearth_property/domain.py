"""Property rules with no I/O: what a building is and which values it may take."""

from __future__ import annotations

from typing import Literal
from zoneinfo import available_timezones

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hearth_contracts.common import Address

BuildingType = Literal["residential", "commercial", "mixed"]
BuildingStatus = Literal["active", "inactive", "maintenance"]

_ZONES = frozenset(available_timezones())


class AddressIn(BaseModel):
    """A postal address as a client sends it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

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
    """The body of POST /v1/buildings."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    type: BuildingType
    address: AddressIn
    timezone: str = Field(default="UTC", max_length=64, description="IANA time zone")
    status: BuildingStatus = "active"

    _tz = field_validator("timezone")(classmethod(lambda cls, v: valid_timezone(v)))


def occupancy(units: int, occupied: int) -> float:
    """Share of units occupied, rounded as the seeds show it (0.97)."""
    return round(occupied / units, 4) if units else 0.0
