"""Manual charges and credits, and voids."""

from __future__ import annotations

from typing import Any

from hearth_contracts.billing import ChargeVoided
from hearth_kit.errors import Conflict, NotFound
from hearth_kit.ids import new_id
from hearth_kit.pagination import PageParams
from hearth_kit.resources import Resource
from hearth_kit.tx import Tx

from hearth_billing import repository as repo
from hearth_billing.models import ChargeIn, VoidIn
from hearth_billing.money import event_money
from hearth_billing.service.accounts import locked_account, same_currency, today_at
from hearth_billing.service.allocation import rebalance
from hearth_billing.service.postings import post_charges
from hearth_billing.service.views import charge_view

CHARGE = Resource(kind="charge", path="/v1/charges/{id}", view=charge_view,
                  load=lambda tx, ident, lock: repo.get_charge(tx.conn, ident))


async def create_charge(tx: Tx, body: ChargeIn) -> dict[str, Any]:
    """Post a charge (or a credit) on a lease; open charges get paid from any credit at once."""
    acc = await locked_account(tx.conn, body.lease_id)
    same_currency(acc, body.amount.currency)
    rows = await post_charges(tx, [{
        "id": new_id("chg"), "org_id": tx.org_id, "lease_id": acc["id"], "kind": body.kind,
        "amount": body.amount.amount, "currency": acc["currency"], "due_date": body.due_date or today_at(acc),
        "description": body.description, "scheduled": False}])
    await rebalance(tx.conn, org_id=tx.org_id, lease_id=acc["id"])
    row = await repo.get_charge(tx.conn, rows[0]["id"])
    assert row is not None
    return charge_view(row)


async def void_charge(tx: Tx, charge_id: str, body: VoidIn) -> dict[str, Any]:
    """Void a charge nobody has paid (409 otherwise), or a credit; the balance drops (or rises) by it."""
    charge = await repo.get_charge(tx.conn, charge_id)
    if charge is None:
        raise NotFound.of("charge", charge_id)
    acc = await locked_account(tx.conn, charge["lease_id"])
    charge = await repo.get_charge(tx.conn, charge_id)  # re-read under the lease lock
    assert charge is not None
    if charge["status"] == "void":
        raise Conflict(f"charge {charge_id} is already void", code="charge-void", status_now="void")
    if charge["kind"] != "credit" and charge["amount_paid"] > 0:
        raise Conflict(f"charge {charge_id} is {charge['status']}: reverse its payments or post a credit",
                       code="charge-paid", status_now=charge["status"], allowed_from=["open"])
    await repo.void_charge(tx.conn, charge_id, reason=body.reason)
    sign = 1 if charge["kind"] == "credit" else -1
    await repo.add_entries(tx.conn, [{
        "org_id": tx.org_id, "lease_id": charge["lease_id"], "entry_type": "void", "ref_id": charge_id,
        "kind": charge["kind"], "amount": sign * charge["amount"], "currency": charge["currency"],
        "occurred_on": today_at(acc), "description": body.reason}])
    await tx.emit(ChargeVoided(charge_id=charge_id, org_id=tx.org_id, lease_id=charge["lease_id"],
                               amount=event_money(charge["amount"], charge["currency"]), reason=body.reason),
                  subject=charge["lease_id"])
    await rebalance(tx.conn, org_id=tx.org_id, lease_id=charge["lease_id"])
    after = await repo.get_charge(tx.conn, charge_id)
    assert after is not None
    return charge_view(after)


async def list_charges(tx: Tx, *, page: PageParams, **filters: Any) -> tuple[list[dict[str, Any]], int]:
    """A page of charges, latest due first."""
    rows, total = await repo.list_charges(tx.conn, org_id=tx.org_id, limit=page.limit, offset=page.offset,
                                          **filters)
    return [charge_view(r) for r in rows], total
