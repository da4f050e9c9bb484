"""Re-apply a lease's money to its charges, oldest first, and store the outcome (statuses, credit)."""

from __future__ import annotations

from decimal import Decimal

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
