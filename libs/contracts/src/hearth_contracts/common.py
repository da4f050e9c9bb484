"""Value objects shared by several contracts."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field


class Money(BaseModel):
    """An exact amount of money; serialised as a string so no float ever touches it."""

    model_config = ConfigDict(frozen=True)

    amount: Decimal = Field(description="Exact amount, e.g. \"1250.00\"")
    currency: str = Field(min_length=3, max_length=3, description="ISO 4217 code, e.g. USD")


class Address(BaseModel):
    """A postal address."""

    model_config = ConfigDict(frozen=True)

    line1: str = Field(description="Street and number")
    line2: str | None = Field(default=None, description="Apartment, suite, floor")
    city: str = Field(description="City or locality")
    region: str | None = Field(default=None, description="State, province or region")
    postal_code: str | None = Field(default=None, description="Postal or ZIP code")
    country: str = Field(description="ISO 3166-1 alpha-2 country code")
