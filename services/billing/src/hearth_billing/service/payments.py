"""Payments: record (allocated oldest first, the rest kept as credit), clear, fail, reverse with an NSF fee."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any, Literal

import asyncpg
from hearth_contracts.billing import PaymentRecorded, PaymentReversed
from hearth_kit.errors import Conflict, InvalidInput, NotFound
from hearth_kit.ids import new_id
from hearth_kit.pagination import PageParams
from hearth_kit.resources import Resource
from hearth_kit.tx import Tx

from hearth_billing import repository as repo
from hearth_billing.domain import local_today
from hearth_billing.models import FailIn, PaymentIn, ReverseIn
from hearth_billing.money import event_money
from hearth_billing.service.accounts import UnknownLease, locked_account, same_currency, today_at
from hearth_billing.service.allocation import apply_new_funds, rebalance
from hearth_billing.service.postings import post_charges
from hearth_billing.service.views import payment_view

PaymentAction = Literal["completed", "failed", "reversed"]
NEXT: dict[str, list[PaymentAction]] = {"pending": ["completed", "failed"], "completed": ["reversed"], "failed": [],
                                        "reversed": []}

PAYMENT = Resource(kind="payment", path="/v1/payments/{id}", view=payment_view,
                   load=lambda tx, ident, lock: repo.get_payment(tx.conn, ident, for_update=lock))


async def _lease_for(tx: Tx, body: PaymentIn) -> asyncpg.Record:
    """The lease paid for: the one named, else the resident's running (or latest) lease."""
    if body.lease_id is not None:
        acc = await locked_account(tx.conn, body.lease_id)
        if body.resident_id is not None and body.resident_id not in acc["resident_ids"]:
            raise InvalidInput(f"resident {body.resident_id} is not on lease {body.lease_id}",
                               code="resident-not-on-lease",
                               errors=[{"field": "resident_id", "message": "not on the lease"}])
        return acc
    assert body.resident_id is not None
    accounts = await repo.accounts_of_resident(tx.conn, body.resident_id)
    if not accounts:
        raise InvalidInput(f"resident {body.resident_id} has no lease billing knows", code="unknown-resident",
                           errors=[{"field": "resident_id", "message": "no lease for this resident in this org"}])
    return await locked_account(tx.conn, accounts[0]["id"])


def _ledger_row(payment: asyncpg.Record, *, entry_type: str, sign: int, on: date,
                note: str | None) -> dict[str, Any]:
    return {"org_id": payment["org_id"], "lease_id": payment["lease_id"], "entry_type": entry_type,
            "ref_id": payment["id"], "kind": payment["method"], "amount": sign * payment["amount"],
            "currency": payment["currency"], "occurred_on": on, "description": note}


async def _complete(tx: Tx, payment: asyncpg.Record, acc: asyncpg.Record) -> Sequence[asyncpg.Record | dict[str, Any]]:
    """The money is in (its ledger row is written): it pays the oldest charges and is announced. Returns the
    payment's allocations."""
    paid = await apply_new_funds(tx.conn, org_id=payment["org_id"], lease_id=payment["lease_id"],
                                 source_id=payment["id"], amount=payment["amount"], at=payment["received_at"],
                                 credit=acc["credit"])
    await tx.emit(PaymentRecorded(
        payment_id=payment["id"], org_id=payment["org_id"], resident_id=payment["resident_id"],
        lease_id=payment["lease_id"], amount=event_money(payment["amount"], payment["currency"]),
        method=payment["method"], paid_at=payment["received_at"], reference=payment["reference"]),
        subject=payment["id"])
    if paid is None:
        return await repo.allocations_of(tx.conn, payment["id"])
    return [{**a, "currency": payment["currency"]} for a in paid]


def _received_on(acc: asyncpg.Record, received_at: datetime) -> date:
    """The payment's day in the lease's building (its ledger date)."""
    return local_today(acc["timezone"], now=received_at)


async def record_payment(tx: Tx, body: PaymentIn) -> dict[str, Any]:
    """Record a payment from a resident (seed 002's Record Payment)."""
    acc = await _lease_for(tx, body)
    same_currency(acc, body.amount.currency)
    payer = body.resident_id or (acc["resident_ids"][0] if acc["resident_ids"] else None)
    if payer is None:
        raise InvalidInput(f"lease {acc['id']} has no resident on file: name the payer", code="payer-required",
                           errors=[{"field": "resident_id", "message": "required for this lease"}])
    received_at = body.received_at or datetime.now(UTC)
    completed = body.status == "completed"
    payment = await repo.insert_payment(tx.conn, {
        "id": new_id("pay"), "org_id": tx.org_id, "lease_id": acc["id"],
        "resident_id": payer, "building_id": acc["building_id"],
        "amount": body.amount.amount, "currency": acc["currency"], "method": body.method, "status": body.status,
        "received_at": received_at, "reference": body.reference, "memo": body.memo},
        entry={"occurred_on": _received_on(acc, received_at), "description": body.reference or body.memo}
        if completed else None)
    allocations = await _complete(tx, payment, acc) if completed else []
    return payment_view(payment, allocations)


async def change_status(tx: Tx, payment_id: str, to: PaymentAction,
                        body: FailIn | ReverseIn | None = None) -> dict[str, Any]:
    """pending → completed | failed; completed → reversed (with an optional NSF fee). 409 otherwise."""
    found = await repo.get_payment(tx.conn, payment_id)
    if found is None:
        raise NotFound.of("payment", payment_id)
    acc = await repo.get_account(tx.conn, found["lease_id"], for_update=True)
    if acc is None:
        raise UnknownLease(found["lease_id"])
    payment = await repo.get_payment(tx.conn, payment_id, for_update=True)
    assert payment is not None
    if to not in NEXT[payment["status"]]:
        raise Conflict(f"payment {payment_id} is {payment['status']}; it cannot become {to}",
                       code="illegal-transition", status_now=payment["status"], allowed=NEXT[payment["status"]])
    if to == "completed":
        payment = await repo.set_payment_status(tx.conn, payment_id, status="completed")
        await repo.add_entries(tx.conn, [_ledger_row(payment, entry_type="payment", sign=-1,
                                                     on=_received_on(acc, payment["received_at"]),
                                                     note=payment["reference"] or payment["memo"])])
        return payment_view(payment, await _complete(tx, payment, acc))
    if to == "failed":
        reason = body.reason if body is not None else None
        payment = await repo.set_payment_status(tx.conn, payment_id, status="failed", reason=reason)
    else:
        payment = await _reverse(tx, payment, acc, body if isinstance(body, ReverseIn) else ReverseIn())
    return payment_view(payment, await repo.allocations_of(tx.conn, payment_id))


async def _reverse(tx: Tx, payment: asyncpg.Record, acc: asyncpg.Record, body: ReverseIn) -> asyncpg.Record:
    """The money came back (bounced cheque, charge-back): the balance rises again, plus the NSF fee."""
    today = today_at(acc)
    nsf_id = None
    if body.nsf_fee is not None:
        same_currency(acc, body.nsf_fee.currency, field="nsf_fee.currency")
        fee = await post_charges(tx, [{
            "id": new_id("chg"), "org_id": payment["org_id"], "lease_id": acc["id"], "kind": "nsf_fee",
            "amount": body.nsf_fee.amount, "currency": acc["currency"], "due_date": today, "scheduled": False,
            "description": f"NSF fee for payment {payment['id']}"}])
        nsf_id = fee[0]["id"]
    payment = await repo.set_payment_status(tx.conn, payment["id"], status="reversed", reason=body.reason,
                                            nsf_charge_id=nsf_id)
    await repo.add_entries(tx.conn, [_ledger_row(payment, entry_type="reversal", sign=1, on=today,
                                                 note=body.reason)])
    await rebalance(tx.conn, org_id=payment["org_id"], lease_id=payment["lease_id"])
    await tx.emit(PaymentReversed(
        payment_id=payment["id"], org_id=payment["org_id"], resident_id=payment["resident_id"],
        lease_id=payment["lease_id"], amount=event_money(payment["amount"], payment["currency"]),
        reversed_at=payment["reversed_at"], reason=body.reason, nsf_fee_charge_id=nsf_id), subject=payment["id"])
    return payment


async def get_payment(tx: Tx, payment_id: str) -> dict[str, Any]:
    """One payment with the charges it paid."""
    row = await repo.get_payment(tx.conn, payment_id)
    if row is None:
        raise NotFound.of("payment", payment_id)
    return payment_view(row, await repo.allocations_of(tx.conn, payment_id))


async def list_payments(tx: Tx, *, page: PageParams, **filters: Any) -> tuple[list[dict[str, Any]], int]:
    """A page of payments, latest received first."""
    rows, total = await repo.list_payments(tx.conn, org_id=tx.org_id, limit=page.limit, offset=page.offset,
                                           **filters)
    return [payment_view(r) for r in rows], total
