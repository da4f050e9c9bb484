"""Request body examples shown in the OpenAPI document (taken from the seeds' shapes)."""

from __future__ import annotations

from typing import Any

from fastapi.openapi.models import Example

ADDRESS = {"line1": "12 Harbour Road", "city": "Lisbon", "postal_code": "1100-001", "country": "PT"}

BUILDING: dict[str, Example] = {"building": Example(summary="A residential building", value={
    "name": "Harbour View", "type": "residential", "address": ADDRESS, "timezone": "Europe/Lisbon"})}

UNIT_BODY: dict[str, Any] = {
    "building_id": "bld_01JB4F8E2N0QF5X3M6V7W8Y9Z0", "name": "Apartment 3B", "unit_number": "3B",
    "type": "apartment", "bedrooms": 2, "bathrooms": "1.5", "size": {"interior": "78.5", "unit": "sqm"},
    "price": {"amount": "1450.00", "currency": "EUR"}, "features": ["balcony", "elevator"], "visibility": "public",
}
UNIT: dict[str, Example] = {"unit": Example(summary="A two-bedroom apartment", value=UNIT_BODY)}
UNIT_PATCH: dict[str, Example] = {"reserve": Example(summary="Reserve at a new price", value={
    "status": "reserved", "price": {"amount": "1395.00", "currency": "EUR"}})}
BULK: dict[str, Example] = {"two": Example(summary="Two units at once", value={
    "units": [UNIT_BODY, {**UNIT_BODY, "name": "Apartment 3C", "unit_number": "3C"}]})}
BULK_STATUS: dict[str, Example] = {"off": Example(summary="Take units off the market", value={
    "unit_ids": ["unit_01JB4F9A1B2C3D4E5F6G7H8J9K", "unit_01JB4F9A1B2C3D4E5F6G7H8J9M"], "status": "off_market"})}
RESIDENT: dict[str, Example] = {"resident": Example(summary="A resident", value={
    "name": "Ana Costa", "email": "ana.costa@example.com", "phone": "+351 912 345 678",
    "emergency_contacts": [{"name": "Rui Costa", "phone": "+351 913 000 111", "relationship": "brother"}]})}
AGENT: dict[str, Example] = {"agent": Example(summary="A leasing agent", value={
    "name": "Marta Silva", "email": "marta@example.com", "phone": "+351 910 000 222"})}
LEASE: dict[str, Example] = {"lease": Example(summary="A one-year lease", value={
    "unit_id": "unit_01JB4F9A1B2C3D4E5F6G7H8J9K", "resident_ids": ["res_01JB4FA0A1B2C3D4E5F6G7H8J9"],
    "start_date": "2026-01-01", "end_date": "2026-12-31", "type": "fixed",
    "rent": {"amount": "1450.00", "currency": "EUR"}, "deposit": {"amount": "2900.00", "currency": "EUR"},
    "payment_due_day": 1})}
TERMINATE: dict[str, Example] = {"terminate": Example(summary="End early", value={
    "date": "2026-06-30", "reason": "Resident moved abroad"})}
