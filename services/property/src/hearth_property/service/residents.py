"""Resident use cases and the payments projection fed by billing.events."""

from __future__ import annotations

from typing import Any

from hearth_contracts.billing import PaymentRecorded
from hearth_contracts.property import ResidentCreated, ResidentStatusChanged, ResidentUpdated
from hearth_kit.ids import new_id
from hearth_kit.pagination import PageParams
from hearth_kit.resources import Resource, load
from hearth_kit.tx import Tx

from hearth_property.domain import ResidentIn
from hearth_property.repository import leases as lease_repo
from hearth_property.repository import residents as repo
from hearth_property.service.views import lease_view, payment_view, resident_snapshot, resident_view

RESIDENT = Resource(
    kind="resident", path="/v1/residents/{id}", view=resident_view,
    load=lambda tx, ident, lock: repo.get_resident(tx.conn, ident, for_update=lock),
    fields=("name", "email", "phone", "emergency_contacts", "status"),
    save=lambda tx, ident, fields: repo.update_resident(tx.conn, ident, fields),
    updated=lambda row: ResidentUpdated(**resident_snapshot(row)),
    status_changed=lambda row, previous: ResidentStatusChanged(**resident_snapshot(row), previous_status=previous),
)


async def create_resident(tx: Tx, body: ResidentIn) -> dict[str, Any]:
    """Create a resident and announce it."""
    row = await repo.insert_resident(tx.conn, {"id": new_id("res"), "org_id": tx.org_id,
                                               **body.model_dump(mode="json")})
    await tx.emit(ResidentCreated(**resident_snapshot(row)), subject=row["id"])
    return resident_view(row)


async def get_resident(tx: Tx, resident_id: str) -> dict[str, Any]:
    """One resident with lease history and payment records (projected from billing)."""
    row = await load(tx, RESIDENT, resident_id)
    leases = await lease_repo.leases_of_resident(tx.conn, resident_id)
    payments = await repo.payments_of(tx.conn, resident_id)
    return {**resident_view(row), "leases": [lease_view(r) for r in leases],
            "payments": [payment_view(p) for p in payments]}


async def list_residents(tx: Tx, *, page: PageParams, building_id: str | None, unit_id: str | None,
                         status: str | None, q: str | None) -> tuple[list[dict[str, Any]], int]:
    """A page of residents."""
    rows, total = await repo.list_residents(tx.conn, org_id=tx.org_id, building_id=building_id, unit_id=unit_id,
                                            status=status, q=q, limit=page.limit, offset=page.offset)
    return [resident_view(r) for r in rows], total


async def project_payment(tx: Tx, payment: PaymentRecorded) -> None:
    """billing.events → the local payments table (inbox-deduplicated by the kit; the PK is a backstop)."""
    await repo.record_payment(tx.conn, {
        "payment_id": payment.payment_id, "org_id": tx.org_id, "resident_id": payment.resident_id,
        "lease_id": payment.lease_id, "amount": payment.amount.amount, "currency": payment.amount.currency,
        "method": payment.method, "paid_at": payment.paid_at, "reference": payment.reference,
    })
