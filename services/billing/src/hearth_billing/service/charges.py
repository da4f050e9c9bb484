"""Manual charges and credits, and voids."""

from __future__ import annotations

from typing import Any

import asyncpg
from hearth_contracts.billing import ChargeVoided
from hearth_kit import outbox
from hearth_kit.auth import Principal
from hearth_kit.db import Database
from hearth_kit.ids import new_id
from hearth_kit.pagination import PageParams
from hearth_kit.problems import Problem, not_found

from hearth_billing import repository as repo
from hearth_billing.models import ChargeIn, VoidIn
from hearth_billing.money import event_money
from hearth_billing.service.accounts import locked_account, same_currency, today_at
from hearth_billing.service.allocation import rebalance
from hearth_billing.service.postings import SOURCE, post_charges
from hearth_billing.service.views import charge_view


async def create_charge(conn: asyncpg.Connection, *, principal: Principal, body: ChargeIn,
                        traceparent: str | None = None) -> dict[str, Any]:
    """Post a charge (or a credit) on a lease; open charges get paid from any credit at once."""
    acc = await locked_account(conn, body.lease_id)
    same_currency(acc, body.amount.currency)
    rows = await post_charges(conn, [{
        "id": new_id("chg"), "org_id": principal.org_id, "lease_id": acc["id"], "kind": body.kind,
        "amount": body.amount.amount, "currency": acc["currency"], "due_date": body.due_date or today_at(acc),
        "description": body.description, "scheduled": False}], traceparent=traceparent)
    await rebalance(conn, org_id=principal.org_id, lease_id=acc["id"])
    row = await repo.get_charge(conn, rows[0]["id"])
    assert row is not None
    return charge_view(row)


async def void_charge(db: Database, *, principal: Principal, charge_id: str, body: VoidIn,
                      traceparent: str | None = None) -> dict[str, Any]:
    """Void a charge nobody has paid (409 otherwise), or a credit; the balance drops (or rises) by it."""
    principal.require_write()
    async with db.transaction(org_id=principal.org_id) as conn:
        charge = await repo.get_charge(conn, charge_id)
        if charge is None:
            raise not_found("charge", charge_id)
        await locked_account(conn, charge["lease_id"])
        charge = await repo.get_charge(conn, charge_id)  # re-read under the lease lock
        assert charge is not None
        if charge["status"] == "void":
            raise Problem(409, f"charge {charge_id} is already void", slug="charge-void", status_now="void")
        if charge["kind"] != "credit" and charge["amount_paid"] > 0:
            raise Problem(409, f"charge {charge_id} is {charge['status']}: reverse its payments or post a credit",
                          slug="charge-paid", status_now=charge["status"], allowed_from=["open"])
        await repo.void_charge(conn, charge_id, reason=body.reason)
        sign = 1 if charge["kind"] == "credit" else -1
        await repo.add_entries(conn, [{
            "org_id": principal.org_id, "lease_id": charge["lease_id"], "entry_type": "void", "ref_id": charge_id,
            "kind": charge["kind"], "amount": sign * charge["amount"], "currency": charge["currency"],
            "occurred_on": today_at(await locked_account(conn, charge["lease_id"])), "description": body.reason}])
        await outbox.append(conn, source=SOURCE, subject=charge["lease_id"], org_id=principal.org_id,
                            traceparent=traceparent, data=ChargeVoided(
                                charge_id=charge_id, org_id=principal.org_id, lease_id=charge["lease_id"],
                                amount=event_money(charge["amount"], charge["currency"]),
                                reason=body.reason))
        await rebalance(conn, org_id=principal.org_id, lease_id=charge["lease_id"])
        after = await repo.get_charge(conn, charge_id)
        assert after is not None
        return charge_view(after)


async def get_charge(db: Database, *, principal: Principal, charge_id: str) -> dict[str, Any]:
    async with db.transaction(org_id=principal.org_id) as conn:
        row = await repo.get_charge(conn, charge_id)
    if row is None:
        raise not_found("charge", charge_id)
    return charge_view(row)


async def list_charges(db: Database, *, principal: Principal, page: PageParams,
                       **filters: Any) -> tuple[list[dict[str, Any]], int]:
    async with db.transaction(org_id=principal.org_id) as conn:
        rows, total = await repo.list_charges(conn, org_id=principal.org_id, limit=page.limit, offset=page.offset,
                                              **filters)
    return [charge_view(r) for r in rows], total
