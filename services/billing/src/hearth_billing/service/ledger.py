"""Read side: a lease's ledger with its running balance, balances with aging, and the late-fee policy."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hearth_kit.errors import NotFound
from hearth_kit.pagination import PageParams
from hearth_kit.tx import Tx

from hearth_billing import repository as repo
from hearth_billing.models import SettingsIn
from hearth_billing.money import money_out, quantize
from hearth_billing.service.views import ledger_view, settings_view


async def lease_ledger(tx: Tx, lease_id: str, *, page: PageParams) -> dict[str, Any]:
    """Every charge, credit, void, payment and reversal of a lease, oldest first, with the running balance."""
    acc = await repo.get_account(tx.conn, lease_id)
    if acc is None:
        raise NotFound.of("lease", lease_id)
    rows, total, balance = await repo.ledger_page(tx.conn, lease_id, limit=page.limit, offset=page.offset)
    return {"data": [ledger_view(r) for r in rows],
            "meta": {"total": total, "page": page.page, "limit": page.limit, "lease_id": lease_id,
                     "balance": money_out(balance, acc["currency"])}}


async def balances(tx: Tx, *, building_id: str | None = None, resident_id: str | None = None) -> dict[str, Any]:
    """Balances per currency with aging buckets, for the org, a building, or a resident."""
    today = datetime.now(UTC).date()
    rows = await repo.balances(tx.conn, org_id=tx.org_id, building_id=building_id, resident_id=resident_id,
                               today=today)
    if resident_id is not None and not rows:
        raise NotFound.of("resident", resident_id)

    def amt(value: Any, currency: str) -> str:
        return str(quantize(value, currency))

    out = [{"currency": r["currency"], "balance": amt(r["owed"] - r["credit"], r["currency"]),
            "owed": amt(r["owed"], r["currency"]), "credit": amt(r["credit"], r["currency"]),
            "aging": {k: amt(r[k], r["currency"]) for k in ("current", "days_31_60", "days_61_90", "days_over_90")},
            "leases": r["leases"]} for r in rows]
    scope = "resident" if resident_id else "building" if building_id else "org"
    return {"scope": scope, "building_id": building_id, "resident_id": resident_id, "as_of": today.isoformat(),
            "balances": out}


async def get_settings(tx: Tx) -> dict[str, Any]:
    """The org's late-fee policy (the defaults when it never set one)."""
    return settings_view(await repo.get_settings(tx.conn, tx.org_id))


async def put_settings(tx: Tx, body: SettingsIn) -> dict[str, Any]:
    """Replace the org's late-fee policy."""
    return settings_view(await repo.put_settings(tx.conn, tx.org_id, body.model_dump()))
