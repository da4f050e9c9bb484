"""Resident use cases and the payments projection fed by billing.events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from hearth_contracts.billing import PaymentRecorded, PaymentReversed
from hearth_contracts.envelope import Envelope
from hearth_contracts.property import ResidentCreated, ResidentDeleted, ResidentStatusChanged, ResidentUpdated
from hearth_kit import outbox
from hearth_kit.auth import Principal
from hearth_kit.db import Database
from hearth_kit.ids import new_id
from hearth_kit.pagination import PageParams
from hearth_kit.problems import Problem, not_found

from hearth_property.domain import ResidentIn, ResidentPatch
from hearth_property.repository import leases as lease_repo
from hearth_property.repository import residents as repo
from hearth_property.service.views import lease_view, payment_view, resident_snapshot, resident_view

SOURCE = "hearth/property"
_FIELDS = ("name", "email", "phone", "emergency_contacts", "status")


async def create_resident(conn: asyncpg.Connection, *, principal: Principal, body: ResidentIn,
                          traceparent: str | None = None) -> dict[str, Any]:
    """Create a resident and announce it."""
    row = await repo.insert_resident(conn, {"id": new_id("res"), "org_id": principal.org_id,
                                            **body.model_dump(mode="json")})
    await outbox.append(conn, source=SOURCE, data=ResidentCreated(**resident_snapshot(row)), subject=row["id"],
                        org_id=principal.org_id, traceparent=traceparent)
    return resident_view(row)


async def get_resident(db: Database, *, principal: Principal, resident_id: str,
                       payments_page: PageParams | None = None) -> dict[str, Any]:
    """One resident with lease history and a page of payment records (projected from billing)."""
    page = payments_page or PageParams(page=1, limit=100)
    async with db.transaction(org_id=principal.org_id) as conn:
        row = await repo.get_resident(conn, resident_id)
        if row is None:
            raise not_found("resident", resident_id)
        leases = await lease_repo.leases_of_resident(conn, resident_id)
        payments, total = await repo.payments_of(conn, org_id=principal.org_id, resident_id=resident_id,
                                                 limit=page.limit, offset=page.offset)
    return {**resident_view(row), "leases": [lease_view(r) for r in leases],
            "payments": [payment_view(p) for p in payments],
            "payments_meta": {"total": total, "page": page.page, "limit": page.limit}}


async def delete_resident(db: Database, *, principal: Principal, resident_id: str,
                          traceparent: str | None = None) -> None:
    """Delete a resident; 409 while they hold an active or future lease."""
    principal.require_write()
    async with db.transaction(org_id=principal.org_id) as conn:
        row = await repo.get_resident(conn, resident_id, for_update=True)
        if row is None:
            raise not_found("resident", resident_id)
        lease_id = await repo.holds_running_lease(conn, resident_id, today=datetime.now(UTC).date() - timedelta(days=1))
        if lease_id is not None:
            raise Problem(409, f"resident {resident_id} holds active or future lease {lease_id}",
                          slug="resident-has-lease", lease_id=lease_id)
        await repo.delete_resident(conn, resident_id)
        await outbox.append(conn, source=SOURCE, data=ResidentDeleted(resident_id=resident_id, org_id=principal.org_id),
                            subject=resident_id, org_id=principal.org_id, traceparent=traceparent)


async def follow_lease(conn: asyncpg.Connection, *, lease_id: str, running: bool, org_id: str,
                       traceparent: str | None = None) -> None:
    """A resident's status follows their leases: active while one runs, former once the last has ended."""
    for before in await repo.residents_of_lease(conn, lease_id):
        if running:
            status = "active"
        elif await repo.has_active_lease_besides(conn, before["id"], lease_id):
            continue
        else:
            status = "former"
        if before["status"] == status:
            continue
        after = await repo.set_status(conn, before["id"], status)
        await outbox.append(conn, source=SOURCE, subject=before["id"], org_id=org_id, traceparent=traceparent,
                            data=ResidentStatusChanged(**resident_snapshot(after), previous_status=before["status"]))


async def list_residents(
    db: Database, *, principal: Principal, page: PageParams, building_id: str | None, unit_id: str | None,
    status: str | None, q: str | None,
) -> tuple[list[dict[str, Any]], int]:
    """A page of residents."""
    async with db.transaction(org_id=principal.org_id) as conn:
        rows, total = await repo.list_residents(conn, org_id=principal.org_id, building_id=building_id,
                                                unit_id=unit_id, status=status, q=q, limit=page.limit,
                                                offset=page.offset)
    return [resident_view(r) for r in rows], total


async def update_resident(db: Database, *, principal: Principal, resident_id: str,
                          body: ResidentIn | ResidentPatch, traceparent: str | None = None) -> dict[str, Any]:
    """PUT or PATCH a resident; announce updated and/or status_changed."""
    principal.require_write()
    async with db.transaction(org_id=principal.org_id) as conn:
        before = await repo.get_resident(conn, resident_id, for_update=True)
        if before is None:
            raise not_found("resident", resident_id)
        fields = {k: before[k] for k in _FIELDS}
        sent = body.model_fields_set if isinstance(body, ResidentPatch) else set(_FIELDS)
        dumped = body.model_dump(mode="json")
        fields.update({k: dumped[k] for k in sent})
        after = await repo.update_resident(conn, resident_id, fields)
        if any(after[k] != before[k] for k in _FIELDS if k != "status"):
            await outbox.append(conn, source=SOURCE, data=ResidentUpdated(**resident_snapshot(after)),
                                subject=resident_id, org_id=principal.org_id, traceparent=traceparent)
        if after["status"] != before["status"]:
            await outbox.append(
                conn, source=SOURCE,
                data=ResidentStatusChanged(**resident_snapshot(after), previous_status=before["status"]),
                subject=resident_id, org_id=principal.org_id, traceparent=traceparent)
    return resident_view(after)


async def project_payment_reversal(conn: asyncpg.Connection, envelope: Envelope) -> None:
    """billing.events reversal → the resident's payment record shows it reversed."""
    reversal = envelope.data_as(PaymentReversed)
    await repo.reverse_payment(conn, payment_id=reversal.payment_id, reversed_at=reversal.reversed_at,
                               reason=reversal.reason)


async def project_billing_event(conn: asyncpg.Connection, envelope: Envelope) -> None:
    """Route a billing fact to its projection."""
    if envelope.type == PaymentReversed.event_type:
        await project_payment_reversal(conn, envelope)
    else:
        await project_payment(conn, envelope)


async def project_payment(conn: asyncpg.Connection, envelope: Envelope) -> None:
    """billing.events → the local payments table (inbox-deduplicated by the caller; the PK is a backstop)."""
    payment = envelope.data_as(PaymentRecorded)
    await repo.record_payment(conn, {
        "payment_id": payment.payment_id, "org_id": envelope.orgid, "resident_id": payment.resident_id,
        "lease_id": payment.lease_id, "amount": payment.amount.amount, "currency": payment.amount.currency,
        "method": payment.method, "paid_at": payment.paid_at, "reference": payment.reference,
    })
