"""Rows → API documents and event snapshots (money as exact strings, times as RFC 3339)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg

from hearth_property.domain import lease_status, local_today, money_out, occupancy


def _num(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def building_view(row: asyncpg.Record) -> dict[str, Any]:
    """The API shape of a building (seed 000 + 002 fields)."""
    units, occupied = int(row["units"]), int(row["occupied_units"])
    return {
        "id": row["id"],
        "name": row["name"],
        "type": row["type"],
        "address": row["address"],
        "timezone": row["timezone"],
        "status": row["status"],
        "units": units,
        "occupied_units": occupied,
        "occupancy": occupancy(units, occupied),
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }


def building_snapshot(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "building_id": row["id"], "org_id": row["org_id"], "name": row["name"], "type": row["type"],
        "address": row["address"], "timezone": row["timezone"], "status": row["status"],
        "created_at": row["created_at"], "updated_at": row["updated_at"],
    }


def _size(row: asyncpg.Record) -> dict[str, Any] | None:
    if row["size_interior"] is None and row["size_land"] is None:
        return None
    return {"interior": _num(row["size_interior"]), "land": _num(row["size_land"]), "unit": row["size_unit"]}


def unit_view(row: asyncpg.Record) -> dict[str, Any]:
    """The API shape of a unit (seed 003's object; `property_id` mirrors `building_id`)."""
    return {
        "id": row["id"],
        "building_id": row["building_id"],
        "property_id": row["building_id"],
        "name": row["name"],
        "unit_number": row["unit_number"],
        "type": row["type"],
        "status": row["status"],
        "bedrooms": row["bedrooms"],
        "bathrooms": _num(row["bathrooms"]),
        "size": _size(row),
        "price": money_out(row["price_amount"], row["price_currency"]),
        "features": list(row["features"]),
        "floor_plan": row["floor_plan"],
        "gallery": list(row["gallery"]),
        "visibility": row["visibility"],
        "assigned_agent": row["assigned_agent"],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }


def unit_snapshot(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "unit_id": row["id"], "org_id": row["org_id"], "building_id": row["building_id"], "name": row["name"],
        "unit_number": row["unit_number"], "type": row["type"], "status": row["status"],
        "bedrooms": row["bedrooms"], "bathrooms": row["bathrooms"],
        "size": ({"interior": row["size_interior"], "land": row["size_land"], "unit": row["size_unit"]}
                 if row["size_interior"] is not None or row["size_land"] is not None else None),
        "price": money_out(row["price_amount"], row["price_currency"]),
        "features": list(row["features"]), "floor_plan": row["floor_plan"], "gallery": list(row["gallery"]),
        "visibility": row["visibility"], "assigned_agent": row["assigned_agent"],
        "created_at": row["created_at"], "updated_at": row["updated_at"],
    }


def agent_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"], "name": row["name"], "email": row["email"], "phone": row["phone"],
        "created_at": row["created_at"].isoformat(), "updated_at": row["updated_at"].isoformat(),
    }


def agent_snapshot(row: asyncpg.Record) -> dict[str, Any]:
    return {"agent_id": row["id"], "org_id": row["org_id"], "name": row["name"], "email": row["email"],
            "phone": row["phone"], "created_at": row["created_at"], "updated_at": row["updated_at"]}


def resident_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"], "name": row["name"], "email": row["email"], "phone": row["phone"],
        "emergency_contacts": row["emergency_contacts"], "status": row["status"],
        "created_at": row["created_at"].isoformat(), "updated_at": row["updated_at"].isoformat(),
    }


def resident_snapshot(row: asyncpg.Record) -> dict[str, Any]:
    return {"resident_id": row["id"], "org_id": row["org_id"], "name": row["name"], "email": row["email"],
            "phone": row["phone"], "emergency_contacts": row["emergency_contacts"], "status": row["status"],
            "created_at": row["created_at"], "updated_at": row["updated_at"]}


def status_of(row: asyncpg.Record, *, today: date | None = None) -> str:
    """A lease's status today (in its building's time zone unless `today` is given)."""
    return lease_status(start=row["start_date"], end=row["end_date"], terminated_on=row["terminated_on"],
                        today=today or local_today(row["timezone"]))


def lease_view(row: asyncpg.Record, *, today: date | None = None) -> dict[str, Any]:
    return {
        "id": row["id"], "unit_id": row["unit_id"], "building_id": row["building_id"],
        "resident_ids": list(row["resident_ids"]), "type": row["type"],
        "start_date": row["start_date"].isoformat(),
        "end_date": row["end_date"].isoformat() if row["end_date"] else None,
        "rent": money_out(row["rent_amount"], row["rent_currency"]),
        "deposit": money_out(row["deposit_amount"], row["deposit_currency"]),
        "payment_due_day": row["payment_due_day"], "status": status_of(row, today=today),
        "terminated_on": row["terminated_on"].isoformat() if row["terminated_on"] else None,
        "termination_reason": row["termination_reason"],
        "created_at": row["created_at"].isoformat(), "updated_at": row["updated_at"].isoformat(),
    }


def lease_snapshot(row: asyncpg.Record, *, today: date | None = None) -> dict[str, Any]:
    return {
        "lease_id": row["id"], "org_id": row["org_id"], "unit_id": row["unit_id"],
        "building_id": row["building_id"], "resident_ids": list(row["resident_ids"]), "type": row["type"],
        "start_date": row["start_date"], "end_date": row["end_date"],
        "rent": money_out(row["rent_amount"], row["rent_currency"]),
        "deposit": money_out(row["deposit_amount"], row["deposit_currency"]),
        "payment_due_day": row["payment_due_day"], "status": status_of(row, today=today),
        "terminated_on": row["terminated_on"], "termination_reason": row["termination_reason"],
        "created_at": row["created_at"], "updated_at": row["updated_at"],
    }


def payment_view(row: asyncpg.Record) -> dict[str, Any]:
    return {"id": row["payment_id"], "lease_id": row["lease_id"],
            "amount": money_out(row["amount"], row["currency"]), "method": row["method"],
            "paid_at": row["paid_at"].isoformat(), "reference": row["reference"], "status": row["status"],
            "reversed_at": row["reversed_at"].isoformat() if row["reversed_at"] else None}
