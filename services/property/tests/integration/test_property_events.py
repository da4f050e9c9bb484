"""Every change is a fact on property.events, keyed by the aggregate id; billing payments project locally."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from hearth_contracts.billing import PaymentRecorded
from hearth_contracts.common import Money
from hearth_contracts.envelope import to_cloudevent_bytes
from hearth_kit.ids import new_id
from hearth_kit.messaging import wait_for
from hearth_kit.testing import EventReader, Infra, ServiceHarness
from hearth_property.service.leases import sweep_leases
from property_helpers import lease_body, mk_agent, mk_building, mk_resident, mk_unit, ok, unit_body

pytestmark = pytest.mark.integration

TODAY = datetime.now(UTC).date()
Action = Callable[[ServiceHarness, str], Awaitable[tuple[str, dict[str, Any]]]]


def d(days: int) -> str:
    return (TODAY + timedelta(days=days)).isoformat()


async def building_updated(h: ServiceHarness, org: str) -> tuple[str, dict[str, Any]]:
    b = await mk_building(h, org)
    await h.client.patch(f"/v1/buildings/{b['id']}", json={"name": "New name"}, headers=h.headers(org_id=org))
    return b["id"], {"name": "New name"}


async def building_status_changed(h: ServiceHarness, org: str) -> tuple[str, dict[str, Any]]:
    b = await mk_building(h, org)
    await h.client.patch(f"/v1/buildings/{b['id']}", json={"status": "maintenance"}, headers=h.headers(org_id=org))
    return b["id"], {"status": "maintenance", "previous_status": "active"}


async def building_deleted(h: ServiceHarness, org: str) -> tuple[str, dict[str, Any]]:
    b = await mk_building(h, org)
    await h.client.delete(f"/v1/buildings/{b['id']}", headers=h.headers(org_id=org))
    return b["id"], {"building_id": b["id"], "org_id": org}


async def unit_created(h: ServiceHarness, org: str) -> tuple[str, dict[str, Any]]:
    b = await mk_building(h, org)
    u = await mk_unit(h, org, b["id"], unit_number="A-1", price={"amount": "850000", "currency": "USD"})
    return u["id"], {"building_id": b["id"], "unit_number": "A-1",
                     "price": {"amount": "850000.00", "currency": "USD"}}


async def unit_updated(h: ServiceHarness, org: str) -> tuple[str, dict[str, Any]]:
    b = await mk_building(h, org)
    u = await mk_unit(h, org, b["id"])
    await h.client.patch(f"/v1/units/{u['id']}", json={"bedrooms": 4}, headers=h.headers(org_id=org))
    return u["id"], {"bedrooms": 4}


async def unit_status_changed(h: ServiceHarness, org: str) -> tuple[str, dict[str, Any]]:
    b = await mk_building(h, org)
    u = await mk_unit(h, org, b["id"])
    await h.client.patch("/v1/units/bulk/status", json={"unit_ids": [u["id"]], "status": "sold"},
                         headers=h.headers(org_id=org))
    return u["id"], {"status": "sold", "previous_status": "available"}


async def unit_deleted(h: ServiceHarness, org: str) -> tuple[str, dict[str, Any]]:
    b = await mk_building(h, org)
    u = await mk_unit(h, org, b["id"])
    await h.client.delete(f"/v1/units/{u['id']}", headers=h.headers(org_id=org))
    return u["id"], {"building_id": b["id"]}


async def bulk_unit_created(h: ServiceHarness, org: str) -> tuple[str, dict[str, Any]]:
    b = await mk_building(h, org)
    resp = await h.client.post("/v1/units/bulk", json={"units": [unit_body(b["id"], name=f"B{i}") for i in range(3)]},
                               headers=h.headers(org_id=org))
    return resp.json()["data"][2]["id"], {"name": "B2"}


async def agent_created(h: ServiceHarness, org: str) -> tuple[str, dict[str, Any]]:
    a = await mk_agent(h, org, name="Agent A")
    return a["id"], {"name": "Agent A"}


async def agent_updated(h: ServiceHarness, org: str) -> tuple[str, dict[str, Any]]:
    a = await mk_agent(h, org)
    await h.client.patch(f"/v1/agents/{a['id']}", json={"phone": "+1 2"}, headers=h.headers(org_id=org))
    return a["id"], {"phone": "+1 2"}


async def resident_created(h: ServiceHarness, org: str) -> tuple[str, dict[str, Any]]:
    r = await mk_resident(h, org, name="Res A")
    return r["id"], {"name": "Res A", "status": "active"}


async def resident_updated(h: ServiceHarness, org: str) -> tuple[str, dict[str, Any]]:
    r = await mk_resident(h, org)
    await h.client.patch(f"/v1/residents/{r['id']}", json={"phone": "+1 3"}, headers=h.headers(org_id=org))
    return r["id"], {"phone": "+1 3"}


async def resident_status_changed(h: ServiceHarness, org: str) -> tuple[str, dict[str, Any]]:
    r = await mk_resident(h, org)
    await h.client.patch(f"/v1/residents/{r['id']}", json={"status": "inactive"}, headers=h.headers(org_id=org))
    return r["id"], {"status": "inactive", "previous_status": "active"}


async def _lease(h: ServiceHarness, org: str, start: str, end: str | None) -> dict[str, Any]:
    b = await mk_building(h, org)
    u = await mk_unit(h, org, b["id"])
    r = await mk_resident(h, org)
    return await ok(await h.client.post("/v1/leases", json=lease_body(u["id"], [r["id"]], start, end),  # type: ignore[no-any-return]
                                        headers=h.headers(org_id=org)), 201)


async def lease_created(h: ServiceHarness, org: str) -> tuple[str, dict[str, Any]]:
    lease = await _lease(h, org, d(30), d(60))
    return lease["id"], {"status": "future", "rent": {"amount": "1250.00", "currency": "USD"},
                         "payment_due_day": 1}


async def lease_activated(h: ServiceHarness, org: str) -> tuple[str, dict[str, Any]]:
    lease = await _lease(h, org, d(-1), d(60))
    return lease["id"], {"status": "active", "unit_id": lease["unit_id"]}


async def lease_terminated(h: ServiceHarness, org: str) -> tuple[str, dict[str, Any]]:
    lease = await _lease(h, org, d(-1), None)
    await h.client.post(f"/v1/leases/{lease['id']}/terminate", json={"reason": "left"}, headers=h.headers(org_id=org))
    return lease["id"], {"status": "terminated", "terminated_on": d(0), "termination_reason": "left"}


async def lease_ended(h: ServiceHarness, org: str) -> tuple[str, dict[str, Any]]:
    lease = await _lease(h, org, d(-1), d(0))
    await sweep_leases(h.app.state.runtime.db, today=TODAY + timedelta(days=1))
    return lease["id"], {"status": "past", "reason": "expired"}


async def unit_rented_by_lease(h: ServiceHarness, org: str) -> tuple[str, dict[str, Any]]:
    lease = await _lease(h, org, d(0), None)
    return lease["unit_id"], {"status": "rented", "previous_status": "available"}


CASES: list[tuple[str, Action]] = [
    ("hearth.building.updated.v1", building_updated),
    ("hearth.building.status_changed.v1", building_status_changed),
    ("hearth.building.deleted.v1", building_deleted),
    ("hearth.unit.created.v1", unit_created),
    ("hearth.unit.created.v1", bulk_unit_created),
    ("hearth.unit.updated.v1", unit_updated),
    ("hearth.unit.status_changed.v1", unit_status_changed),
    ("hearth.unit.status_changed.v1", unit_rented_by_lease),
    ("hearth.unit.deleted.v1", unit_deleted),
    ("hearth.agent.created.v1", agent_created),
    ("hearth.agent.updated.v1", agent_updated),
    ("hearth.resident.created.v1", resident_created),
    ("hearth.resident.updated.v1", resident_updated),
    ("hearth.resident.status_changed.v1", resident_status_changed),
    ("hearth.lease.created.v1", lease_created),
    ("hearth.lease.activated.v1", lease_activated),
    ("hearth.lease.terminated.v1", lease_terminated),
    ("hearth.lease.ended.v1", lease_ended),
]


@pytest.mark.parametrize(("event_type", "action"), CASES, ids=[f"{t}-{a.__name__}" for t, a in CASES])
async def test_event_reaches_a_real_consumer(prop: ServiceHarness, infra: Infra, org_id: str, event_type: str,
                                             action: Action) -> None:
    async with EventReader(infra.kafka_bootstrap, "property.events") as reader:
        key, expected = await action(prop, org_id)
        [(got_key, env)] = await reader.wait_for(lambda k, e: e.type == event_type and k == key.encode())
    assert got_key == key.encode() and env.subject == key and env.orgid == org_id
    assert env.source == "hearth/property" and env.sequence >= 1
    for field, value in expected.items():
        assert env.data[field] == value, (field, env.data)


async def test_payment_projection_is_idempotent_and_shows_on_the_resident(prop: ServiceHarness, infra: Infra,
                                                                         org_id: str) -> None:
    resident = await mk_resident(prop, org_id)
    payment = PaymentRecorded(
        payment_id=new_id("pay"), org_id=org_id, resident_id=resident["id"], lease_id=None,
        amount=Money(amount="1250.00", currency="USD"), method="bank_transfer",
        paid_at=datetime(2025, 3, 1, 9, 30, tzinfo=UTC), reference="TRX-1")
    raw = to_cloudevent_bytes(event_id=new_id("evt"), source="hearth/billing", data=payment,
                              subject=payment.payment_id, org_id=org_id, sequence=1)
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
    await producer.start()
    try:
        for _ in range(2):  # redelivery: the same event twice has one effect
            await producer.send_and_wait("billing.events", raw, key=payment.payment_id.encode())
    finally:
        await producer.stop()

    async def shown() -> bool:
        detail = (await prop.client.get(f"/v1/residents/{resident['id']}", headers=prop.headers(org_id=org_id))).json()
        return len(detail["data"]["payments"]) >= 1

    assert await wait_for(shown, timeout=30)
    detail = (await prop.client.get(f"/v1/residents/{resident['id']}", headers=prop.headers(org_id=org_id))).json()
    assert detail["data"]["payments"] == [{
        "id": payment.payment_id, "lease_id": None, "amount": {"amount": "1250.00", "currency": "USD"},
        "method": "bank_transfer", "paid_at": "2025-03-01T09:30:00+00:00", "reference": "TRX-1"}]
    async with prop.raw(org_id=org_id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM payments") == 1
        assert await conn.fetchval("SELECT count(*) FROM inbox WHERE consumer = 'payments-projection'") >= 1
    other = (await prop.client.get(f"/v1/residents/{resident['id']}", headers=prop.headers(org_id=new_id("org"))))
    assert other.status_code == 404
