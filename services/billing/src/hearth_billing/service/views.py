"""Rows → API documents (JSON-ready, so they can be stored for Idempotency-Key replays)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import asyncpg

from hearth_billing import models
from hearth_billing.money import MoneyOut, money_out


def charge_view(row: asyncpg.Record) -> dict[str, Any]:
    cur = row["currency"]
    return models.ChargeOut(
        id=row["id"], lease_id=row["lease_id"], kind=row["kind"],
        amount=MoneyOut(**money_out(row["amount"], cur)),
        amount_paid=MoneyOut(**money_out(row["amount_paid"], cur)), status=row["status"],
        due_date=row["due_date"], period=row["period"].strftime("%Y-%m") if row["period"] else None,
        description=row["description"], for_charge=row["for_charge"], voided_at=row["voided_at"],
        void_reason=row["void_reason"], created_at=row["created_at"],
    ).model_dump(mode="json")


def allocation_view(row: asyncpg.Record | Mapping[str, Any]) -> dict[str, Any]:
    return {"source_id": row["source_id"], "charge_id": row["charge_id"],
            "amount": money_out(row["amount"], row["currency"])}


def payment_view(row: asyncpg.Record,
                 allocations: Sequence[asyncpg.Record | Mapping[str, Any]] | None = None) -> dict[str, Any]:
    return models.PaymentOut(
        id=row["id"], lease_id=row["lease_id"], resident_id=row["resident_id"], building_id=row["building_id"],
        amount=MoneyOut(**money_out(row["amount"], row["currency"])), method=row["method"],
        status=row["status"], received_at=row["received_at"], reference=row["reference"], memo=row["memo"],
        completed_at=row["completed_at"], reversed_at=row["reversed_at"], reversal_reason=row["reversal_reason"],
        nsf_fee_charge_id=row["nsf_charge_id"], created_at=row["created_at"],
        allocations=None if allocations is None else [
            models.AllocationOut(**allocation_view(a)) for a in allocations],
    ).model_dump(mode="json")


def ledger_view(row: asyncpg.Record) -> dict[str, Any]:
    cur = row["currency"]
    return {"id": row["id"], "type": row["entry_type"], "ref_id": row["ref_id"], "kind": row["kind"],
            "amount": money_out(row["amount"], cur), "date": row["occurred_on"].isoformat(),
            "description": row["description"], "balance": money_out(row["balance"], cur)}


def _text(value: Decimal | None) -> str | None:
    """A stored setting as it was given: no trailing zeros from the column's scale, never an exponent."""
    return None if value is None else format(value.normalize(), "f")


def settings_view(row: asyncpg.Record | None) -> dict[str, Any]:
    if row is None:
        return models.SettingsOut(grace_days=5, late_fee_enabled=False, late_fee_type="flat", late_fee_flat=None,
                                  late_fee_percent=None, late_fee_cap=None).model_dump(mode="json")
    return models.SettingsOut(
        grace_days=row["grace_days"], late_fee_enabled=row["late_fee_enabled"], late_fee_type=row["late_fee_type"],
        late_fee_flat=_text(row["late_fee_flat"]), late_fee_percent=_text(row["late_fee_percent"]),
        late_fee_cap=_text(row["late_fee_cap"]),
    ).model_dump(mode="json")
