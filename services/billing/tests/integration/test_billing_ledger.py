"""Ledger with running balance, balances with aging, late fees by org policy, and the balance property."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from billing_helpers import charges_of, lease_event, ledger, ok, pay, producer, publish, wait_for_account
from hearth_billing.domain import month_start, next_month, prev_month
from hearth_billing.service.postings import post_late_fees
from hearth_kit.ids import new_id
from hearth_kit.testing import EventReader, Infra, ServiceHarness
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.integration

TODAY = datetime.now(UTC).date()
THIS = month_start(TODAY)


async def lease_with_rent(bill: ServiceHarness, infra: Infra, org_id: str, *, months: int, **over: Any) -> str:
    start = THIS
    for _ in range(months - 1):
        start = prev_month(start)
    lease = lease_event(org_id, start=start, **over)
    async with producer(infra.kafka_bootstrap) as p:
        await publish(p, lease, subject=lease.lease_id, org_id=org_id)
    await wait_for_account(bill, org_id, lease.lease_id, charges=months)
    return lease.lease_id


async def test_ledger_running_balance_and_paging(bill: ServiceHarness, infra: Infra, org_id: str) -> None:
    lease_id = await lease_with_rent(bill, infra, org_id, months=3, deposit="1500.00")
    await pay(bill, org_id, lease_id, "2500.00")
    book = await ledger(bill, org_id, lease_id)
    amounts = [Decimal(e["amount"]["amount"]) for e in book["data"]]
    running = [Decimal(e["balance"]["amount"]) for e in book["data"]]
    assert running == [sum(amounts[: i + 1], Decimal(0)) for i in range(len(amounts))]
    assert book["meta"]["balance"] == {"amount": "2000.00", "currency": "USD"}
    assert book["data"][-1]["type"] == "payment" and book["data"][-1]["amount"]["amount"] == "-2500.00"
    page2 = await bill.client.get(f"/v1/leases/{lease_id}/ledger", params={"page": 2, "limit": 2},
                                  headers=bill.headers(org_id=org_id))
    body = page2.json()
    assert body["meta"]["total"] == 5 and [e["id"] for e in body["data"]] == [e["id"] for e in book["data"][2:4]]
    assert body["data"][-1]["balance"] == book["data"][3]["balance"]  # running over the whole ledger


async def test_balances_by_org_building_and_resident_with_aging(bill: ServiceHarness, infra: Infra,
                                                                org_id: str) -> None:
    building, resident = new_id("bld"), new_id("res")
    old = await lease_with_rent(bill, infra, org_id, months=4, building_id=building, resident_ids=[resident])
    await lease_with_rent(bill, infra, org_id, months=1, rent="700.00")
    await lease_with_rent(bill, infra, org_id, months=1, rent="90000", currency="JPY")
    h = bill.headers(org_id=org_id)
    whole = await ok(await bill.client.get("/v1/balances", headers=h))
    assert whole["scope"] == "org"
    by_cur = {b["currency"]: b for b in whole["balances"]}
    assert by_cur["USD"]["balance"] == "4700.00" and by_cur["USD"]["leases"] == 2
    assert by_cur["JPY"]["balance"] == "90000"
    one = await ok(await bill.client.get("/v1/balances", params={"building_id": building}, headers=h))
    [usd] = one["balances"]
    aged = [Decimal(usd["aging"][k]) for k in ("current", "days_31_60", "days_61_90", "days_over_90")]
    assert sum(aged) == Decimal("4000.00") == Decimal(usd["owed"])
    assert Decimal(usd["aging"]["days_over_90"]) == 0 or TODAY - prev_month(prev_month(prev_month(THIS))) > \
        timedelta(days=90)
    assert aged[0] >= Decimal("1000.00")  # this month's rent is current
    await pay(bill, org_id, old, "1200.00")
    mine = await ok(await bill.client.get(f"/v1/residents/{resident}/balance", headers=h))
    assert mine["scope"] == "resident" and mine["balances"][0]["balance"] == "2800.00"
    assert Decimal(mine["balances"][0]["aging"]["current"]) >= Decimal("1000.00")
    nobody = await bill.client.get(f"/v1/residents/{new_id('res')}/balance", headers=h)
    assert nobody.status_code == 404


async def test_late_fees_follow_the_org_policy_once_per_charge(bill: ServiceHarness, infra: Infra,
                                                               org_id: str) -> None:
    h = bill.headers(org_id=org_id)
    assert (await ok(await bill.client.get("/v1/billing-settings", headers=h)))["late_fee_enabled"] is False
    bad = await bill.client.put("/v1/billing-settings", json={"late_fee_enabled": True, "late_fee_type": "percent"},
                                headers=h)
    assert bad.status_code == 422
    for body in ({"grace_days": -1}, {"grace_days": 61}, {"late_fee_percent": "101"}, {"late_fee_flat": 5.5},
                 {"late_fee_cap": "-1"}):
        assert (await bill.client.put("/v1/billing-settings", json=body, headers=h)).status_code == 422, body
    saved = await ok(await bill.client.put("/v1/billing-settings", json={
        "grace_days": 3, "late_fee_enabled": True, "late_fee_type": "percent", "late_fee_percent": "10",
        "late_fee_cap": "75.00"}, headers=h))
    assert saved == {"grace_days": 3, "late_fee_enabled": True, "late_fee_type": "percent", "late_fee_flat": None,
                     "late_fee_percent": "10", "late_fee_cap": "75"}
    lease_id = await lease_with_rent(bill, infra, org_id, months=1, rent="500.00")
    [rent] = await charges_of(bill, org_id, lease_id)
    await pay(bill, org_id, lease_id, "100.00")
    runtime = bill.app.state.runtime
    due = datetime.fromisoformat(rent["due_date"]).date()
    await post_late_fees(runtime, today=due + timedelta(days=3))  # within grace: nothing
    assert len(await charges_of(bill, org_id, lease_id)) == 1
    async with EventReader(infra.kafka_bootstrap, "billing.events") as reader:
        for _ in range(2):
            await post_late_fees(runtime, today=due + timedelta(days=4))
        [(_, overdue)] = await reader.wait_for(lambda k, e: e.type == "hearth.lease.overdue.v1"
                                               and e.data["lease_id"] == lease_id)
    fees = [c for c in await charges_of(bill, org_id, lease_id) if c["kind"] == "late_fee"]
    assert [f["amount"]["amount"] for f in fees] == ["40.00"]  # 10 % of the 400.00 still owed
    assert fees[0]["for_charge"] == rent["id"] and overdue.data["late_fee_charge_id"] == fees[0]["id"]
    assert overdue.data["overdue"] == {"amount": "400.00", "currency": "USD"}
    await post_late_fees(runtime, today=next_month(due) + timedelta(days=30))
    assert len([c for c in await charges_of(bill, org_id, lease_id) if c["kind"] == "late_fee"]) == 1


Op = tuple[str, int]
ops = st.lists(st.tuples(st.sampled_from(["charge", "credit", "pay", "pending", "reverse", "void", "clear"]),
                         st.integers(min_value=1, max_value=90_000)), min_size=1, max_size=10)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=ops)
async def test_balance_is_charges_minus_payments_and_credits_plus_reversals(
        bill: ServiceHarness, infra: Infra, sequence: list[Op]) -> None:
    """Whatever order charges, credits, payments, reversals and voids come in, the ledger balance is the sum of
    the facts, equals what open charges owe minus unapplied credit, and no charge is paid beyond its amount."""
    org = "org_" + new_id("x")[2:]
    lease_id = await lease_with_rent(bill, infra, org, months=1, rent="10.00")
    h = bill.headers(org_id=org)
    charges, payments, credits, reversals = Decimal("10.00"), Decimal(0), Decimal(0), Decimal(0)
    paid: list[tuple[str, Decimal]] = []
    pending: list[tuple[str, Decimal]] = []
    posted: list[tuple[str, Decimal, str]] = []
    for op, cents in sequence:
        amount = Decimal(cents) / 100
        money = {"amount": f"{amount:.2f}", "currency": "USD"}
        if op in ("charge", "credit"):
            made = await ok(await bill.client.post("/v1/charges", json={
                "lease_id": lease_id, "kind": "other" if op == "charge" else "credit", "amount": money},
                headers=h), 201)
            posted.append((made["id"], amount, op))
            if op == "charge":
                charges += amount
            else:
                credits += amount
        elif op in ("pay", "pending"):
            made = (await pay(bill, org, lease_id, money["amount"],
                              status="completed" if op == "pay" else "pending"))["data"]
            (paid if op == "pay" else pending).append((made["id"], amount))
            payments += amount if op == "pay" else 0
        elif op == "clear" and pending:
            pid, amt = pending.pop(0)
            await ok(await bill.client.post(f"/v1/payments/{pid}/complete", headers=h))
            paid.append((pid, amt))
            payments += amt
        elif op == "reverse" and paid:
            pid, amt = paid.pop(cents % len(paid))
            await ok(await bill.client.post(f"/v1/payments/{pid}/reverse", headers=h))
            reversals += amt
        elif op == "void" and posted:
            cid, amt, kind = posted[cents % len(posted)]
            resp = await bill.client.post(f"/v1/charges/{cid}/void", headers=h)
            assert resp.status_code in (200, 409), resp.text
            if resp.status_code == 200:
                posted.remove((cid, amt, kind))
                if kind == "charge":
                    charges -= amt
                else:
                    credits -= amt
    expected = charges - payments - credits + reversals
    book = await ledger(bill, org, lease_id)
    assert Decimal(book["meta"]["balance"]["amount"]) == expected
    [bal] = (await ok(await bill.client.get("/v1/balances", headers=h)))["balances"]
    assert Decimal(bal["balance"]) == expected
    for c in await charges_of(bill, org, lease_id, limit=100):
        assert Decimal(c["amount_paid"]["amount"]) <= Decimal(c["amount"]["amount"])
