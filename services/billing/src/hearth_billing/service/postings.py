"""Lease accounts from property.events, and the postings that follow from them: deposit, rent, late fees.

Everything scheduled is posted at most once: charges carry a unique (lease, period) / (lease deposit) /
(charge, kind) key and are inserted with ON CONFLICT DO NOTHING, and the consumer's inbox skips a
repeated event, so double runs of the job, a restart mid-run, or a redelivered event post nothing twice.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
from hearth_contracts.billing import ChargePosted, LeaseOverdue
from hearth_contracts.envelope import EventData
from hearth_contracts.property import BuildingSnapshot, LeaseSnapshot
from hearth_kit.ids import new_id
from hearth_kit.logging import get_logger
from hearth_kit.tx import Tx

from hearth_billing import repository as repo
from hearth_billing.domain import (
    LateFeePolicy,
    LeaseTerms,
    first_period,
    is_overdue,
    late_fee,
    local_today,
    month_start,
    prev_month,
    rent_for,
    rents_due,
    schedule,
)
from hearth_billing.money import event_money
from hearth_billing.runtime import BillingRuntime
from hearth_billing.service.allocation import rebalance

log = get_logger(__name__)


def terms_of(acc: asyncpg.Record) -> LeaseTerms:
    return LeaseTerms(start=acc["start_date"], end=acc["end_date"], terminated_on=acc["terminated_on"],
                      rent=acc["rent"], currency=acc["currency"], due_day=acc["due_day"])


def charge_event(row: asyncpg.Record) -> ChargePosted:
    return ChargePosted(
        charge_id=row["id"], org_id=row["org_id"], lease_id=row["lease_id"], kind=row["kind"],
        amount=event_money(row["amount"], row["currency"]), due_date=row["due_date"],
        period=row["period"].strftime("%Y-%m") if row["period"] else None, description=row["description"])


def charge_entry(row: asyncpg.Record) -> dict[str, Any]:
    """The ledger row of a posted charge (+) or credit (-)."""
    credit = row["kind"] == "credit"
    return {"org_id": row["org_id"], "lease_id": row["lease_id"], "entry_type": "credit" if credit else "charge",
            "ref_id": row["id"], "kind": row["kind"], "amount": -row["amount"] if credit else row["amount"],
            "currency": row["currency"], "occurred_on": row["due_date"], "description": row["description"]}


async def post_charges(tx: Tx, rows: list[dict[str, Any]]) -> list[asyncpg.Record]:
    """Insert charges (skipping scheduled ones already there), their ledger rows and their events (each
    announced for its own org: the rent job posts for many orgs in one transaction)."""
    inserted = await repo.insert_charges(tx.conn, rows)
    await repo.add_entries(tx.conn, [charge_entry(r) for r in inserted])
    by_org: dict[str, list[tuple[EventData, str]]] = defaultdict(list)
    for r in inserted:
        by_org[r["org_id"]].append((charge_event(r), r["lease_id"]))
    for org_id, events in by_org.items():
        await tx.for_org(org_id).emit_many(events)
    return inserted


def _rent_row(acc: asyncpg.Record, *, period: date, amount: Decimal, post_on: date) -> dict[str, Any]:
    return {"id": new_id("chg"), "org_id": acc["org_id"], "lease_id": acc["id"], "kind": "rent", "amount": amount,
            "currency": acc["currency"], "due_date": post_on, "period": period, "scheduled": True,
            "description": f"Rent {period:%Y-%m}"}


async def post_due(tx: Tx, accounts: list[asyncpg.Record], today_of: Callable[[asyncpg.Record], date]) -> int:
    """Post every deposit and rent whose local day has come for these (locked) accounts; returns charges posted."""
    rows: list[dict[str, Any]] = []
    plans: list[tuple[str, date | None, date | None, bool]] = []
    for acc in accounts:
        terms, today = terms_of(acc), today_of(acc)
        deposit_pending = not acc["deposit_posted"] and acc["deposit"] > 0
        if deposit_pending and acc["start_date"] <= today and rent_for(terms, month_start(acc["start_date"])):
            rows.append({"id": new_id("chg"), "org_id": acc["org_id"], "lease_id": acc["id"], "kind": "deposit",
                         "amount": acc["deposit"], "currency": acc["currency"], "due_date": acc["start_date"],
                         "scheduled": True, "description": "Security deposit"})
            deposit_pending = False
        if acc["next_period"] is None:  # every rent is posted; at most the deposit is left
            nxt_period, post_on = None, (terms.start if deposit_pending and first_period(terms) else None)
        else:
            dues = rents_due(terms, after=prev_month(acc["next_period"]), today=today)
            rows += [_rent_row(acc, period=d.period, amount=d.amount, post_on=d.post_on) for d in dues]
            after = dues[-1].period if dues else prev_month(acc["next_period"])
            nxt_period, post_on = schedule(terms, after=after, deposit_pending=deposit_pending)
        plans.append((acc["id"], nxt_period, post_on, not deposit_pending))
    inserted = await post_charges(tx, rows)
    await repo.set_schedule(tx.conn, plans)
    credited = {a["id"]: a for a in accounts if a["credit"] > 0}
    for lease_id in {r["lease_id"] for r in inserted} & credited.keys():
        await rebalance(tx.conn, org_id=credited[lease_id]["org_id"], lease_id=lease_id)
    return len(inserted)


# --- property.events --------------------------------------------------------------------------------


async def on_building(tx: Tx, building: BuildingSnapshot) -> None:
    """Keep the building's time zone: rent falls due by its local date."""
    await repo.upsert_building(tx.conn, building_id=building.building_id, org_id=tx.org_id or building.org_id,
                               timezone=building.timezone)


async def on_lease(tx: Tx, lease: LeaseSnapshot) -> None:
    """Keep the lease account; post what the lease owes as soon as it is known."""
    conn = tx.conn
    if lease.deposit.currency != lease.rent.currency and lease.deposit.amount > 0:
        log.warning("deposit in another currency than the rent; deposit not posted", lease_id=lease.lease_id)
    before = await repo.get_account(conn, lease.lease_id, for_update=True)
    await repo.upsert_account(conn, {
        "id": lease.lease_id, "org_id": tx.org_id or lease.org_id, "unit_id": lease.unit_id,
        "building_id": lease.building_id, "resident_ids": lease.resident_ids, "currency": lease.rent.currency,
        "rent": lease.rent.amount,
        "deposit": lease.deposit.amount if lease.deposit.currency == lease.rent.currency else Decimal(0),
        "due_day": lease.payment_due_day, "start_date": lease.start_date, "end_date": lease.end_date,
        "terminated_on": lease.terminated_on, "status": lease.status})
    acc = await repo.get_account(conn, lease.lease_id, for_update=True)
    assert acc is not None
    terms = terms_of(acc)
    deposit_pending = not acc["deposit_posted"] and acc["deposit"] > 0
    if before is None:
        plan = schedule(terms, after=None, deposit_pending=deposit_pending)
    elif acc["next_period"] is not None:
        plan = schedule(terms, after=prev_month(acc["next_period"]), deposit_pending=deposit_pending)
    else:
        plan = (None, terms.start if deposit_pending and first_period(terms) else None)
    await repo.set_schedule(conn, [(acc["id"], plan[0], plan[1], not deposit_pending)])
    today = local_today(acc["timezone"], now=datetime.now(UTC))
    await _credit_unused_rent(tx, acc, terms, today=today)
    acc = await repo.get_account(conn, lease.lease_id, for_update=True)
    assert acc is not None
    await post_due(tx, [acc], lambda _: today)


async def _credit_unused_rent(tx: Tx, acc: asyncpg.Record, terms: LeaseTerms, *, today: date) -> None:
    """A lease that ends earlier than rent already posted covers gets the unused days back as a credit."""
    last = terms.last_day
    if last is None:
        return
    rows: list[dict[str, Any]] = []
    for charge in await repo.rent_charges_from(tx.conn, acc["id"], month_start(last)):
        due = rent_for(terms, charge["period"])
        owed = due.amount if due else Decimal(0)
        if charge["amount"] > owed:
            rows.append({"id": new_id("chg"), "org_id": acc["org_id"], "lease_id": acc["id"], "kind": "credit",
                         "amount": charge["amount"] - owed, "currency": acc["currency"], "due_date": today,
                         "scheduled": True, "for_charge": charge["id"],
                         "description": f"Unused rent {charge['period']:%Y-%m} (lease ends {last})"})
    if await post_charges(tx, rows):
        await rebalance(tx.conn, org_id=acc["org_id"], lease_id=acc["id"])


# --- the jobs ---------------------------------------------------------------------------------------


async def post_rent(runtime: BillingRuntime, *, today: date | None = None, batch: int | None = None) -> int:
    """Post deposits and rent whose day has come, for every org (one batch of leases per transaction).

    `today` overrides every building's local date (tests, benchmarks); by default each lease uses its zone.
    """
    posted = 0
    size = batch or runtime.settings.posting_batch
    now = datetime.now(UTC)
    horizon = today or (now.date() + timedelta(days=1))  # no zone on earth is further ahead than UTC+1 day
    while True:
        async with _system_tx(runtime) as tx:
            accounts = await repo.due_accounts(tx.conn, horizon=horizon, limit=size)
            ready = [a for a in accounts if a["next_post_on"] <= (today or local_today(a["timezone"], now=now))]
            done = await post_due(tx, ready, lambda a: today or local_today(a["timezone"], now=now)) if ready else 0
            posted += done
        # a pass that posted nothing cannot be followed by one that would (the schedule only moves forward)
        if len(accounts) < size or not ready or not done:
            return posted


async def post_late_fees(runtime: BillingRuntime, *, today: date | None = None, batch: int = 500) -> int:
    """Rent still unpaid after the org's grace days: announce the lease overdue and post its late fee, once."""
    handled = 0
    now = datetime.now(UTC)
    horizon = today or (now.date() + timedelta(days=1))
    while True:
        async with _system_tx(runtime) as tx:
            rows = await repo.overdue_candidates(tx.conn, horizon=horizon, limit=batch)
            ready = [r for r in rows if is_overdue(r["due_date"], grace_days=r["grace_days"] or 5,
                                                   today=today or local_today(r["timezone"], now=now))]
            for r in ready:
                await _overdue(tx.for_org(r["org_id"]), r, today=today or local_today(r["timezone"], now=now))
            await repo.mark_overdue_seen(tx.conn, [r["id"] for r in ready])
            handled += len(ready)
        if len(rows) < batch or not ready:
            return handled


@asynccontextmanager
async def _system_tx(runtime: BillingRuntime) -> AsyncIterator[Tx]:
    """A transaction over every org (the jobs); each event is emitted for its own org with `for_org`."""
    async with runtime.db.system_transaction() as conn:
        yield Tx(conn=conn, org_id="", source=runtime.source)


async def _overdue(tx: Tx, charge: asyncpg.Record, *, today: date) -> None:
    policy = LateFeePolicy(
        grace_days=charge["grace_days"] or 5, enabled=bool(charge["late_fee_enabled"]),
        kind=charge["late_fee_type"] or "flat", flat=charge["late_fee_flat"], percent=charge["late_fee_percent"],
        cap=charge["late_fee_cap"])
    owed = charge["amount"] - charge["amount_paid"]
    fee = late_fee(policy, overdue=owed, currency=charge["currency"])
    fee_id = None
    if fee > 0:
        fee_rows = await post_charges(tx, [{
            "id": new_id("chg"), "org_id": charge["org_id"], "lease_id": charge["lease_id"], "kind": "late_fee",
            "amount": fee, "currency": charge["currency"], "due_date": today, "for_charge": charge["id"],
            "scheduled": False, "description": f"Late fee for {charge['description'] or charge['id']}"}])
        fee_id = fee_rows[0]["id"] if fee_rows else None
        acc = await repo.get_account(tx.conn, charge["lease_id"], for_update=True)
        if acc is not None and acc["credit"] > 0:
            await rebalance(tx.conn, org_id=charge["org_id"], lease_id=charge["lease_id"])
    await tx.emit(LeaseOverdue(lease_id=charge["lease_id"], org_id=charge["org_id"], charge_id=charge["id"],
                               overdue=event_money(owed, charge["currency"]), due_date=charge["due_date"],
                               late_fee_charge_id=fee_id), subject=charge["lease_id"])


async def posting_job(runtime: BillingRuntime) -> None:
    """Every `posting_interval_seconds`: post rent and deposits whose day has come, then late fees."""
    while True:
        try:
            rent = await post_rent(runtime)
            fees = await post_late_fees(runtime)
            if rent or fees:
                log.info("postings", rent=rent, overdue=fees)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("posting pass failed; next pass retries")
        await asyncio.sleep(runtime.settings.posting_interval_seconds)
