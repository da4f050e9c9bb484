"""Builders shared by the maintenance integration tests: other services' facts, requests, assertions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from hearth_contracts.auth import MemberCreated
from hearth_contracts.common import Address, Money
from hearth_contracts.envelope import EventData, to_cloudevent_bytes
from hearth_contracts.property import BuildingCreated, UnitCreated
from hearth_kit.ids import new_id
from hearth_kit.messaging import wait_for
from hearth_kit.testing import ServiceHarness

NOW = datetime.now(UTC)


async def produce(producer: AIOKafkaProducer, data: EventData, *, subject: str, org_id: str,
                  event_id: str | None = None, source: str = "hearth/tests") -> str:
    """One CloudEvent on the contract's real topic; returns its id (pass it again to redeliver)."""
    event_id = event_id or new_id("evt")
    payload = to_cloudevent_bytes(event_id=event_id, source=source, data=data, subject=subject, org_id=org_id,
                                  sequence=1)
    await producer.send_and_wait(data.topic, payload, key=subject.encode())
    return event_id


async def project_building(producer: AIOKafkaProducer, org: str) -> str:
    bid = new_id("bld")
    await produce(producer, BuildingCreated(
        building_id=bid, org_id=org, name="Aurora Heights", type="residential",
        address=Address(line1="1 Main St", city="Berlin", country="DE"), timezone="UTC", status="active",
        created_at=NOW, updated_at=NOW), subject=bid, org_id=org)
    return bid


async def project_unit(producer: AIOKafkaProducer, org: str, building_id: str) -> str:
    uid = new_id("unit")
    await produce(producer, UnitCreated(
        unit_id=uid, org_id=org, building_id=building_id, name="Unit 1", status="available",
        price=Money(amount="1000", currency="USD"), visibility="public", created_at=NOW, updated_at=NOW),
        subject=uid, org_id=org)
    return uid


async def project_member(producer: AIOKafkaProducer, org: str, role: str = "technician") -> str:
    mid = new_id("mem")
    await produce(producer, MemberCreated(member_id=mid, org_id=org, name="Tess Tech", role=role,
                                          created_at=NOW, updated_at=NOW), subject=mid, org_id=org)
    return mid


async def projected(h: ServiceHarness, org: str, table: str, row_id: str, timeout: float = 20) -> None:
    async def there() -> bool:
        async with h.raw(org_id=org) as conn:
            return bool(await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table} WHERE id = $1)", row_id))
    assert await wait_for(there, timeout=timeout), f"{row_id} never reached {table}"


@dataclass
class World:
    """An org with a building, a unit in it and two technicians, all projected."""

    org: str
    building: str
    unit: str
    tech: str
    tech2: str
    manager: str


async def make_world(h: ServiceHarness, producer: AIOKafkaProducer, org: str) -> World:
    building = await project_building(producer, org)
    unit = await project_unit(producer, org, building)
    tech, tech2 = await project_member(producer, org), await project_member(producer, org)
    manager = await project_member(producer, org, role="manager")
    for table, rid in (("buildings", building), ("units", unit), ("members", tech), ("members", tech2),
                       ("members", manager)):
        await projected(h, org, table, rid)
    return World(org=org, building=building, unit=unit, tech=tech, tech2=tech2, manager=manager)


def request_body(w: World, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"building_id": w.building, "unit_id": w.unit, "title": "Leaking tap in kitchen",
                            "description": "Drips all night", "category": "plumbing", "priority": "normal",
                            "source": "resident", "permission_to_enter": True}
    body.update(over)
    return body


def ok(resp: Any, status: int = 200) -> Any:
    assert resp.status_code == status, resp.text
    return resp.json()["data"] if resp.content else None


def problem(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json"), resp.headers
    return resp.json()  # type: ignore[no-any-return]


async def mk_request(h: ServiceHarness, w: World, **over: Any) -> dict[str, Any]:
    resp = await h.client.post("/v1/requests", json=request_body(w, **over), headers=h.headers(org_id=w.org))
    return ok(resp, 201)  # type: ignore[no-any-return]


async def count_rows(h: ServiceHarness, org: str, table: str = "requests") -> int:
    async with h.raw(org_id=org) as conn:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))

