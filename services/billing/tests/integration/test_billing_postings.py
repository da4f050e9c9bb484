"""Lease events → lease accounts → deposit and rent, posted once per lease and period whatever repeats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from billing_helpers import (
    building_event,
    charges_of,
    handled,
    lease_event,
    ledger,
    producer,
    publish,
    terminated,
    wait_for_account,
)
from hearth_billing.domain import days_in_month, month_start, next_month, prev_month
from hearth_billing.service.postings import post_rent
from hearth_kit.messaging import wait_for
from hearth_kit.testing import EventReader, Infra, ServiceHarness

pytestmark = pytest.mark.integration

TODAY = datetime.now(UTC).date()
THIS = month_start(TODAY)


async def test_lease_event_posts_deposit_and_catches_up_rent_once(bill: ServiceHarness, infra: Infra,
                                                                  org_id: str) -> None:
    start = prev_month(prev_month(THIS)).replace(day=15)  # two months ago, after the due day (the 1st)
    lease = lease_event(org_id, start=start, deposit="2000.00", due_day=1)
    async with EventReader(infra.kafka_bootstrap, "billing.events") as reader, producer(infra.kafka_bootstrap) as p:
        await publish(p, lease, subject=lease.lease_id, org_id=org_id, times=2)  # redelivered
        found = await wait_for_account(bill, org_id, lease.lease_id, charges=4)
        posted = await reader.wait_for(lambda k, e: e.type == "hearth.charge.posted.v1"
                                       and e.data["lease_id"] == lease.lease_id, count=4)
    kinds = sorted((c["kind"], c["period"]) for c in found)
    assert kinds == [("deposit", None), ("rent", f"{start:%Y-%m}"), ("rent", f"{prev_month(THIS):%Y-%m}"),
                     ("rent", f"{THIS:%Y-%m}")]
    first = next(c for c in found if c["period"] == f"{start:%Y-%m}")
    days = days_in_month(start)
    expected = (Decimal("1000") * (days - 14) / days).quantize(Decimal("0.01"))
    assert first["amount"] == {"amount": str(expected), "currency": "USD"}  # prorated from the 15th
    assert first["due_date"] == start.isoformat()  # started after the due day: this period at once
    assert {k for k, _ in posted} == {lease.lease_id.encode()}  # keyed by lease

    runtime = bill.app.state.runtime
    async with producer(infra.kafka_bootstrap) as p:  # the same lease again under a new event id
        await handled(bill, await publish(p, lease, subject=lease.lease_id, org_id=org_id))
    for _ in range(2):  # the job twice, today: nothing new
        await post_rent(runtime, today=TODAY)
    assert len(await charges_of(bill, org_id, lease.lease_id)) == 4
    for _ in range(2):  # next month's due day, twice: one more rent
        await post_rent(runtime, today=next_month(THIS))
    found = await charges_of(bill, org_id, lease.lease_id)
    assert sorted(c["period"] or "" for c in found)[-1] == f"{next_month(THIS):%Y-%m}"
    assert len(found) == 5
    book = await ledger(bill, org_id, lease.lease_id)
    assert book["meta"]["total"] == 5
    assert Decimal(book["meta"]["balance"]["amount"]) == sum(Decimal(c["amount"]["amount"]) for c in found)


async def test_due_day_in_the_building_zone_and_month_end(bill: ServiceHarness, infra: Infra, org_id: str) -> None:
    building = building_event(org_id, "Pacific/Kiritimati")
    start = prev_month(THIS)
    lease = lease_event(org_id, start=start, due_day=31, building_id=building.building_id)
    async with producer(infra.kafka_bootstrap) as p:
        await publish(p, building, subject=building.building_id, org_id=org_id)
        async def zone_known() -> bool:
            async with bill.raw(org_id=org_id) as conn:
                return bool(await conn.fetchval("SELECT 1 FROM buildings WHERE id = $1", building.building_id))
        assert await wait_for(zone_known, timeout=30)
        await publish(p, lease, subject=lease.lease_id, org_id=org_id)
    found = await wait_for_account(bill, org_id, lease.lease_id, charges=1)
    assert found[-1]["due_date"] == start.replace(day=days_in_month(start)).isoformat()  # 31 → the month's last
    async with bill.raw(org_id=org_id) as conn:
        row = await conn.fetchrow("SELECT next_post_on FROM lease_accounts WHERE id = $1", lease.lease_id)
    assert row is not None
    assert row["next_post_on"] == THIS.replace(day=days_in_month(THIS))


async def test_a_lease_ending_early_credits_the_unused_rent(bill: ServiceHarness, infra: Infra, org_id: str) -> None:
    start = prev_month(prev_month(prev_month(THIS)))
    lease = lease_event(org_id, start=start, deposit="500.00")
    async with producer(infra.kafka_bootstrap) as p:
        await publish(p, lease, subject=lease.lease_id, org_id=org_id)
        await wait_for_account(bill, org_id, lease.lease_id, charges=5)
        last_month = prev_month(THIS)
        end = terminated(lease, last_month + timedelta(days=10))  # last day: the 10th of last month
        await handled(bill, await publish(p, end, subject=lease.lease_id, org_id=org_id, times=2))
        found = await wait_for_account(bill, org_id, lease.lease_id, charges=7)
    credits = sorted((c for c in found if c["kind"] == "credit"), key=lambda c: c["amount"]["amount"])
    days = days_in_month(last_month)
    unused = (Decimal("1000") - Decimal("1000") * 10 / days).quantize(Decimal("0.01"))
    assert [c["amount"]["amount"] for c in credits] == sorted(["1000.00", str(unused)])
    book = await ledger(bill, org_id, lease.lease_id)
    assert Decimal(book["meta"]["balance"]["amount"]) == Decimal("500") + 2000 + (1000 - unused)
    await post_rent(bill.app.state.runtime, today=next_month(next_month(THIS)))  # nothing after the end
    assert len(await charges_of(bill, org_id, lease.lease_id)) == 7


async def test_a_future_lease_posts_nothing_until_its_start(bill: ServiceHarness, infra: Infra, org_id: str) -> None:
    start = next_month(THIS).replace(day=10)
    lease = lease_event(org_id, start=start, deposit="750.00", due_day=5, status="future")
    async with producer(infra.kafka_bootstrap) as p:
        await publish(p, lease, subject=lease.lease_id, org_id=org_id)
    await wait_for_account(bill, org_id, lease.lease_id)
    runtime = bill.app.state.runtime
    await post_rent(runtime, today=start - timedelta(days=1))
    assert await charges_of(bill, org_id, lease.lease_id) == []
    await post_rent(runtime, today=start)
    found = await charges_of(bill, org_id, lease.lease_id)
    assert sorted(c["kind"] for c in found) == ["deposit", "rent"]  # starts after the 5th: rent at once
    zero = lease_event(org_id, start=TODAY)  # deposit 0: no deposit charge
    async with producer(infra.kafka_bootstrap) as p:
        await publish(p, zero, subject=zero.lease_id, org_id=org_id)
    assert [c["kind"] for c in await wait_for_account(bill, org_id, zero.lease_id, charges=1)] == ["rent"]


async def test_month_end_run_for_many_leases_posts_each_once(bill: ServiceHarness, infra: Infra,
                                                               org_id: str) -> None:
    leases = [lease_event(org_id, start=THIS, due_day=(i % 28) + 1, status="future") for i in range(30)]
    async with producer(infra.kafka_bootstrap) as p:
        for lease in leases:
            await publish(p, lease, subject=lease.lease_id, org_id=org_id)
    for lease in leases:
        await wait_for_account(bill, org_id, lease.lease_id)
    runtime = bill.app.state.runtime
    target = next_month(next_month(THIS)).replace(day=28)  # every due day (1..28) of that month has come
    results = [await post_rent(runtime, today=target, batch=7), await post_rent(runtime, today=target, batch=7)]
    async with bill.raw(org_id=org_id) as conn:
        per = await conn.fetch("SELECT lease_id, count(*) AS n, count(DISTINCT period) AS d FROM charges"
                               " WHERE org_id = $1 AND kind = 'rent' GROUP BY lease_id", org_id)
    assert len(per) == 30 and all(r["n"] == r["d"] == 3 for r in per)
    assert results[1] == 0
