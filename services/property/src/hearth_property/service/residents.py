"""Resident use cases and the payments projection fed by billing.events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hearth_contracts.billing import PaymentRecorded, PaymentReversed
from hearth_contracts.property import ResidentCreated, ResidentDeleted, ResidentStatusChanged, ResidentUpdated
from hearth_kit.errors import Conflict
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


async def get_resident(tx: Tx, resident_id: str, *, payments_page: PageParams | None = None) -> dict[str, Any]:
    """One resident with lease history and a page of payment records (projected from billing)."""
    page = payments_page or PageParams(page=1, limit=100)
    row = await load(tx, RESIDENT, resident_id)
    leases = await lease_repo.leases_of_resident(tx.conn, resident_id)
    payments, total = await repo.payments_of(tx.conn, org_id=tx.org_id, resident_id=resident_id,
                                             limit=page.limit, offset=page.offset)
    return {**resident_view(row), "leases": [lease_view(r) for r in leases],
            "payments": [payment_view(p) for p in payments],
            "payments_meta": {"total": total, "page": page.page, "limit": page.limit}}


async def remove_resident(tx: Tx, row: Any) -> None:
    """Delete a resident (the row is loaded and locked); 409 while they hold an active or future lease."""
    resident_id = row["id"]
    lease_id = await repo.holds_running_lease(tx.conn, resident_id, today=datetime.now(UTC).date() - timedelta(days=1))
    if lease_id is not None:
        raise Conflict(f"resident {resident_id} holds active or future lease {lease_id}", code="resident-has-lease",
                       lease_id=lease_id)
    await repo.delete_resident(tx.conn, resident_id)
    await tx.emit(ResidentDeleted(resident_id=resident_id, org_id=tx.org_id), subject=resident_id)


async def follow_lease(tx: Tx, *, lease_id: str, running: bool) -> None:
    """A resident's status follows their leases: active while one runs, former once the last has ended."""
    for before in await repo.residents_of_lease(tx.conn, lease_id):
        if running:
            status = "active"
        elif await repo.has_active_lease_besides(tx.conn, before["id"], lease_id):
            continue
        else:
            status = "former"
        if before["status"] == status:
            continue
        after = await repo.set_status(tx.conn, before["id"], status)
        await tx.emit(ResidentStatusChanged(**resident_snapshot(after), previous_status=before["status"]),
                      subject=before["id"])


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


async def project_payment_reversal(tx: Tx, reversal: PaymentReversed) -> None:
    """billing.events reversal → the resident's payment record shows it reversed."""
    await repo.reverse_payment(tx.conn, payment_id=reversal.payment_id, reversed_at=reversal.reversed_at,
                               reason=reversal.reason)
