"""Payments: record (allocated oldest first, the rest kept as credit), clear, fail, reverse with an NSF fee."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
from hearth_contracts.billing import PaymentRecorded, PaymentReversed
from hearth_kit import outbox
from hearth_kit.auth import Principal
from hearth_kit.db import Database
from hearth_kit.ids import new_id
from hearth_kit.pagination import PageParams
from hearth_kit.problems import Problem, not_found

from hearth_billing import repository as repo
from hearth_billing.domain import local_today
from hearth_billing.models import FailIn, PaymentIn, ReverseIn
from hearth_billing.money import event_money
from hearth_billing.service.accounts import locked_account, same_currency, today_at, unknown_lease
from hearth_billing.service.allocation import rebalance
from hearth_billing.service.postings import SOURCE, post_charges
from hearth_billing.service.views import payment_view

NEXT = {"pending": ["completed", "failed"], "completed": ["reversed"], "failed": [], "reversed": []}


async def _lease_for(conn: asyncpg.Connection, body: PaymentIn) -> asyncpg.Record:
    """The lease paid for: the one named, else the resident's running (or latest) lease."""
    if body.lease_id is not None:
        acc = await locked_account(conn, body.lease_id)
        if body.resident_id is not None and body.resident_id not in acc["resident_ids"]:
            raise Problem(422, f"resident {body.resident_id} is not on lease {body.lease_id}",
                          slug="resident-not-on-lease",
                          errors=[{"field": "resident_id", "message": "not on the lease"}])
        return acc
    assert body.resident_id is not None
    accounts = await repo.accounts_of_resident(conn, body.resident_id)
    if not accounts:
        raise Problem(422, f"resident {body.resident_id} has no lease billing knows", slug="unknown-resident",
                      errors=[{"field": "resident_id", "message": "no lease for this resident in this org"}])
    return await locked_account(conn, accounts[0]["id"])


def _ledger_row(payment: asyncpg.Record, *, entry_type: str, sign: int, on: Any, note: str | None) -> dict[str, Any]:
    return {"org_id": payment["org_id"], "lease_id": payment["lease_id"], "entry_type": entry_type,
            "ref_id": payment["id"], "kind": payment["method"], "amount": sign * payment["amount"],
            "currency": payment["currency"], "occurred_on": on, "description": note}


async def _complete(conn: asyncpg.Connection, payment: asyncpg.Record, acc: asyncpg.Record,
                    traceparent: str | None) -> None:
    """The money is in: it lowers the balance, pays the oldest charges, and is announced."""
    on = local_today(acc["timezone"], now=payment["received_at"])
    await repo.add_entries(conn, [_ledger_row(payment, entry_type="payment", sign=-1, on=on,
                                              note=payment["reference"] or payment["memo"])])
    await rebalance(conn, org_id=payment["org_id"], lease_id=payment["lease_id"])
    await outbox.append(conn, source=SOURCE, subject=payment["id"], org_id=payment["org_id"], traceparent=traceparent,
                        data=PaymentRecorded(
                            payment_id=payment["id"], org_id=payment["org_id"], resident_id=payment["resident_id"],
                            lease_id=payment["lease_id"],
                            amount=event_money(payment["amount"], payment["currency"]),
                            method=payment["method"], paid_at=payment["received_at"],
                            reference=payment["reference"]))


async def record_payment(conn: asyncpg.Connection, *, principal: Principal, body: PaymentIn,
                         traceparent: str | None = None) -> dict[str, Any]:
    """Record a payment from a resident (seed 002's Record Payment)."""
    acc = await _lease_for(conn, body)
    same_currency(acc, body.amount.currency)
    payer = body.resident_id or (acc["resident_ids"][0] if acc["resident_ids"] else None)
    if payer is None:
        raise Problem(422, f"lease {acc['id']} has no resident on file: name the payer", slug="payer-required",
                      errors=[{"field": "resident_id", "message": "required for this lease"}])
    payment = await repo.insert_payment(conn, {
        "id": new_id("pay"), "org_id": principal.org_id, "lease_id": acc["id"],
        "resident_id": payer, "building_id": acc["building_id"],
        "amount": body.amount.amount, "currency": acc["currency"], "method": body.method, "status": body.status,
        "received_at": body.received_at or datetime.now(UTC), "reference": body.reference, "memo": body.memo})
    if payment["status"] == "completed":
        await _complete(conn, payment, acc, traceparent)
    return payment_view(payment, await repo.allocations_of(conn, payment["id"]))


async def change_status(db: Database, *, principal: Principal, payment_id: str, to: str,
                        body: FailIn | ReverseIn | None = None, traceparent: str | None = None) -> dict[str, Any]:
    """pending → completed | failed; completed → reversed (with an optional NSF fee). 409 otherwise."""
    principal.require_write()
    async with db.transaction(org_id=principal.org_id) as conn:
        found = await repo.get_payment(conn, payment_id)
        if found is None:
            raise not_found("payment", payment_id)
        acc = await repo.get_account(conn, found["lease_id"], for_update=True)
        if acc is None:
            raise unknown_lease(found["lease_id"])
        payment = await repo.get_payment(conn, payment_id, for_update=True)
        assert payment is not None
        if to not in NEXT[payment["status"]]:
            raise Problem(409, f"payment {payment_id} is {payment['status']}; it cannot become {to}",
                          slug="illegal-transition", status_now=payment["status"],
                          allowed=NEXT[payment["status"]])
        reason = body.reason if body is not None else None
        if to == "completed":
            payment = await repo.set_payment_status(conn, payment_id, status="completed")
            await _complete(conn, payment, acc, traceparent)
        elif to == "failed":
            payment = await repo.set_payment_status(conn, payment_id, status="failed", reason=reason)
        else:
            payment = await _reverse(conn, payment, acc, body if isinstance(body, ReverseIn) else ReverseIn(),
                                     traceparent)
        return payment_view(payment, await repo.allocations_of(conn, payment_id))


async def _reverse(conn: asyncpg.Connection, payment: asyncpg.Record, acc: asyncpg.Record, body: ReverseIn,
                   traceparent: str | None) -> asyncpg.Record:
    """The money came back (bounced cheque, charge-back): the balance rises again, plus the NSF fee."""
    if body.nsf_fee is not None:
        same_currency(acc, body.nsf_fee.currency)
    today = today_at(acc)
    nsf_id = None
    if body.nsf_fee is not None:
        fee = await post_charges(conn, [{
            "id": new_id("chg"), "org_id": payment["org_id"], "lease_id": acc["id"], "kind": "nsf_fee",
            "amount": body.nsf_fee.amount, "currency": acc["currency"], "due_date": today, "scheduled": False,
            "description": f"NSF fee for payment {payment['id']}"}], traceparent=traceparent)
        nsf_id = fee[0]["id"]
    payment = await repo.set_payment_status(conn, payment["id"], status="reversed", reason=body.reason,
                                            nsf_charge_id=nsf_id)
    await repo.add_entries(conn, [_ledger_row(payment, entry_type="reversal", sign=1, on=today,
                                              note=body.reason)])
    await rebalance(conn, org_id=payment["org_id"], lease_id=payment["lease_id"])
    await outbox.append(conn, source=SOURCE, subject=payment["id"], org_id=payment["org_id"], traceparent=traceparent,
                        data=PaymentReversed(
                            payment_id=payment["id"], org_id=payment["org_id"], resident_id=payment["resident_id"],
                            lease_id=payment["lease_id"],
                            amount=event_money(payment["amount"], payment["currency"]),
                            reversed_at=payment["reversed_at"], reason=body.reason, nsf_fee_charge_id=nsf_id))
    return payment


async def get_payment(db: Database, *, principal: Principal, payment_id: str) -> dict[str, Any]:
    async with db.transaction(org_id=principal.org_id) as conn:
        row = await repo.get_payment(conn, payment_id)
        if row is None:
            raise not_found("payment", payment_id)
        return payment_view(row, await repo.allocations_of(conn, payment_id))


async def list_payments(db: Database, *, principal: Principal, page: PageParams,
                        **filters: Any) -> tuple[list[dict[str, Any]], int]:
    async with db.transaction(org_id=principal.org_id) as conn:
        rows, total = await repo.list_payments(conn, org_id=principal.org_id, limit=page.limit, offset=page.offset,
                                               **filters)
    return [payment_view(r) for r in rows], total
