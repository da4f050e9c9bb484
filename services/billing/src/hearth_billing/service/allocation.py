"""Re-apply a lease's money to its charges, oldest first, and store the outcome (statuses, credit)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from hearth_billing import repository as repo
from hearth_billing.domain import ZERO, Funds, OpenItem, allocate, charge_status


async def rebalance(conn: asyncpg.Connection, *, org_id: str, lease_id: str) -> Decimal:
    """Recompute who paid what after any change to the lease's money; returns the unapplied credit.

    Re-running from scratch (instead of patching) keeps one rule everywhere: a reversal, a void or a
    back-dated payment simply re-flows the money; only rows that changed are written. The caller holds
    the lease account's row lock.
    """
    charges, payments, current = await repo.allocation_inputs(conn, lease_id)
    owed = [OpenItem(id=c["id"], amount=c["amount"], due=c["due_date"], order=i)
            for i, c in enumerate(charges) if c["kind"] != "credit"]
    sources = sorted([(p["received_at"], p["id"], p["amount"]) for p in payments]
                     + [(c["created_at"], c["id"], c["amount"]) for c in charges if c["kind"] == "credit"])
    result = allocate(owed, [Funds(id=s[1], amount=s[2], order=i) for i, s in enumerate(sources)])

    old = {(a["source_id"], a["charge_id"]): a["amount"] for a in current}
    new = {(s, c): amount for s, c, amount in result.pairs}
    await repo.replace_allocations(
        conn, org_id=org_id, lease_id=lease_id, removed=[k for k in old if k not in new],
        upserts=[(s, c, a) for (s, c), a in new.items() if old.get((s, c)) != a])

    applied: dict[str, Decimal] = {}
    for s, _, amount in result.pairs:
        applied[s] = applied.get(s, ZERO) + amount
    changes: list[tuple[str, Decimal, str]] = []
    for c in charges:
        if c["kind"] == "credit":
            used = applied.get(c["id"], ZERO)
            status = "applied" if used >= c["amount"] else "open"
        else:
            used = result.paid.get(c["id"], ZERO)
            status = charge_status(c["amount"], used)
        if used != c["amount_paid"] or status != c["status"]:
            changes.append((c["id"], used, status))
    await repo.set_charge_payments(conn, changes)
    await repo.set_credit(conn, lease_id, result.unapplied)
    return result.unapplied


async def apply_new_funds(conn: asyncpg.Connection, *, org_id: str, lease_id: str, source_id: str, amount: Decimal,
                          at: datetime, credit: Decimal) -> list[dict[str, Any]] | None:
    """Pay the open charges, oldest first, from money that comes last in allocation order (the common case:
    a payment received now); returns what it paid as allocation rows.

    Money added after every other source leaves the earlier allocations as they are (`allocate` hands out
    sources in order), so only the open charges are read and only what changes is written, in two round
    trips, whatever the lease's history. Money that does not come last (a back-dated payment, a cheque
    clearing after later payments) re-flows the whole lease with `rebalance`; then None is returned.
    """
    later, open_rows = await repo.open_charges_for_new_funds(conn, lease_id, at=at, source_id=source_id)
    if later or (credit > 0 and open_rows):  # the second: a credit not yet applied; let rebalance settle it
        await rebalance(conn, org_id=org_id, lease_id=lease_id)
        return None
    owed = [OpenItem(id=r["id"], amount=r["amount"] - r["amount_paid"], due=r["due_date"], order=i)
            for i, r in enumerate(open_rows)]
    result = allocate(owed, [Funds(id=source_id, amount=amount, order=0)])
    by_id = {r["id"]: r for r in open_rows}
    paid = [(c, a, by_id[c]["amount_paid"] + a, charge_status(by_id[c]["amount"], by_id[c]["amount_paid"] + a))
            for _, c, a in result.pairs]
    await repo.apply_funds(conn, org_id=org_id, lease_id=lease_id, source_id=source_id, paid=paid,
                           credit_added=result.unapplied)
    return [{"source_id": source_id, "charge_id": c, "amount": a} for c, a, _, _ in paid]
