"""Optional deposits, deletable residents, resident status that follows leases, paged payment records,
and payment reversals from billing.events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from aiokafka import AIOKafkaProducer
from hearth_contracts.billing import PaymentRecorded, PaymentReversed
from hearth_contracts.common import Money
from hearth_contracts.envelope import EventData, to_cloudevent_bytes
from hearth_kit.ids import new_id
from hearth_kit.messaging import wait_for
from hearth_kit.testing import EventReader, Infra, ServiceHarness
from property_helpers import lease_body, mk_building, mk_resident, mk_unit, ok

pytestmark = pytest.mark.integration

TODAY = datetime.now(UTC).date()


def d(days: int) -> str:
    return (TODAY + timedelta(days=days)).isoformat()


async def lease_for(h: ServiceHarness, org: str, resident_ids: list[str], start: str, end: str | None,
                    **over: object) -> dict[str, object]:
    b = await mk_building(h, org)
    u = await mk_unit(h, org, b["id"])
    resp = await h.client.post("/v1/leases", json=lease_body(u["id"], resident_ids, start, end, **over),
                               headers=h.headers(org_id=org))
    return await ok(resp, 201)  # type: ignore[no-any-return]


async def test_a_lease_without_deposit_defaults_to_zero(prop: ServiceHarness, org_id: str) -> None:
    r = await mk_resident(prop, org_id)
    body_over = {"rent": {"amount": "900.00", "currency": "EUR"}}
    b = await mk_building(prop, org_id)
    u = await mk_unit(prop, org_id, b["id"])
    body = lease_body(u["id"], [r["id"]], d(0), d(300), **body_over)
    del body["deposit"]
    lease = await ok(await prop.client.post("/v1/leases", json=body, headers=prop.headers(org_id=org_id)), 201)
    assert lease["deposit"] == {"amount": "0.00", "currency": "EUR"}


async def test_resident_status_follows_leases_and_delete_waits_for_them(prop: ServiceHarness, infra: Infra,
                                                                         org_id: str) -> None:
    h = prop.headers(org_id=org_id)
    r = await mk_resident(prop, org_id, status="inactive")
    async with EventReader(infra.kafka_bootstrap, "property.events") as reader:
        lease = await lease_for(prop, org_id, [r["id"]], d(-10), d(100))
        assert (await ok(await prop.client.get(f"/v1/residents/{r['id']}", headers=h)))["status"] == "active"
        refused = await prop.client.delete(f"/v1/residents/{r['id']}", headers=h)
        assert refused.status_code == 409 and refused.json()["lease_id"] == lease["id"]
        await ok(await prop.client.post(f"/v1/leases/{lease['id']}/terminate", json={"date": d(0)}, headers=h))
        assert (await ok(await prop.client.get(f"/v1/residents/{r['id']}", headers=h)))["status"] == "former"
        changes = await reader.wait_for(lambda k, e: e.type == "hearth.resident.status_changed.v1"
                                        and e.subject == r["id"], count=2)
        assert [e.data["status"] for _, e in changes] == ["active", "former"]
        assert (await prop.client.delete(f"/v1/residents/{r['id']}", headers=h)).status_code == 409  # ended today
    future = await mk_resident(prop, org_id)
    await lease_for(prop, org_id, [future["id"]], d(30), None, type="at_will")
    assert (await prop.client.delete(f"/v1/residents/{future['id']}", headers=h)).status_code == 409
    past = await mk_resident(prop, org_id)
    old = await lease_for(prop, org_id, [past["id"]], d(-400), d(-40))
    async with EventReader(infra.kafka_bootstrap, "property.events") as reader:
        assert (await prop.client.delete(f"/v1/residents/{past['id']}", headers=h)).status_code == 204
        await reader.wait_for(lambda k, e: e.type == "hearth.resident.deleted.v1" and e.subject == past["id"])
    assert (await prop.client.get(f"/v1/residents/{past['id']}", headers=h)).status_code == 404
    assert (await ok(await prop.client.get(f"/v1/leases/{old['id']}", headers=h)))["resident_ids"] == []
    assert (await prop.client.delete(f"/v1/residents/{past['id']}", headers=h)).status_code == 404
    other = prop.headers(org_id=new_id("org"))
    assert (await prop.client.delete(f"/v1/residents/{future['id']}", headers=other)).status_code == 404


async def _produce(infra: Infra, org_id: str, data: EventData, subject: str, times: int = 1) -> None:
    raw = to_cloudevent_bytes(event_id=new_id("evt"), source="hearth/billing", data=data, subject=subject,
                              org_id=org_id, sequence=1)
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
    await producer.start()
    try:
        for _ in range(times):
            await producer.send_and_wait("billing.events", raw, key=subject.encode())
    finally:
        await producer.stop()


async def test_payment_reversals_show_on_the_resident(prop: ServiceHarness, infra: Infra, org_id: str) -> None:
    r = await mk_resident(prop, org_id)
    h = prop.headers(org_id=org_id)
    pid, lease_id = new_id("pay"), new_id("lease")
    await _produce(infra, org_id, PaymentRecorded(
        payment_id=pid, org_id=org_id, resident_id=r["id"], lease_id=lease_id,
        amount=Money(amount=Decimal("500.00"), currency="USD"), method="cheque", paid_at=datetime.now(UTC)), pid)
    await _produce(infra, org_id, PaymentReversed(
        payment_id=pid, org_id=org_id, resident_id=r["id"], lease_id=lease_id,
        amount=Money(amount=Decimal("500.00"), currency="USD"), reversed_at=datetime.now(UTC), reason="NSF"), pid,
        times=2)

    async def reversed_() -> bool:
        detail = await ok(await prop.client.get(f"/v1/residents/{r['id']}", headers=h))
        return [p["status"] for p in detail["payments"]] == ["reversed"]

    assert await wait_for(reversed_, timeout=30)


async def test_payment_records_are_paged(prop: ServiceHarness, org_id: str) -> None:
    r = await mk_resident(prop, org_id)
    async with prop.raw(org_id=org_id) as conn:
        await conn.execute(
            "INSERT INTO payments (payment_id, org_id, resident_id, amount, currency, method, paid_at)"
            " SELECT 'pay_' || lpad(i::text, 26, '0'), $1, $2, 10, 'USD', 'cash', now() - make_interval(days => i)"
            " FROM generate_series(1, 620) AS i", org_id, r["id"])
    h = prop.headers(org_id=org_id)
    first = await ok(await prop.client.get(f"/v1/residents/{r['id']}", headers=h))
    assert len(first["payments"]) == 100 and first["payments_meta"] == {"total": 620, "page": 1, "limit": 100}
    last = await ok(await prop.client.get(f"/v1/residents/{r['id']}", params={"payments_page": 7}, headers=h))
    assert [p["id"] for p in last["payments"]] == [f"pay_{i:026d}" for i in range(601, 621)]
    assert (await prop.client.get(f"/v1/residents/{r['id']}", params={"payments_limit": 101},
                                  headers=h)).status_code == 422
