"""Builders shared by the telemetry integration tests: property facts on the real topic, sensors, readings."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from hearth_contracts.common import Address, Money
from hearth_contracts.envelope import to_cloudevent_bytes
from hearth_contracts.property import BuildingCreated, BuildingDeleted, UnitCreated
from hearth_kit.ids import new_id
from hearth_kit.messaging import wait_for
from hearth_kit.testing import Infra, ServiceHarness


async def publish(infra: Infra, data: Any, *, subject: str, org_id: str) -> str:
    """Produce one CloudEvent to its real topic; returns its id."""
    event_id = new_id("evt")
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(data.topic, to_cloudevent_bytes(
            event_id=event_id, source="hearth/property", data=data, subject=subject, org_id=org_id, sequence=1),
            key=subject.encode())
    finally:
        await producer.stop()
    return event_id


async def building(infra: Infra, org_id: str, *, deleted: bool = False) -> str:
    """A building as property announces it (on property.events)."""
    bid = new_id("bld")
    now = datetime.now(UTC)
    await publish(infra, BuildingCreated(
        building_id=bid, org_id=org_id, name="Aurora", type="residential", timezone="UTC", status="active",
        address=Address(line1="1 Main St", city="Berlin", country="DE"), created_at=now, updated_at=now),
        subject=bid, org_id=org_id)
    if deleted:
        await publish(infra, BuildingDeleted(building_id=bid, org_id=org_id), subject=bid, org_id=org_id)
    return bid


async def unit(infra: Infra, org_id: str, building_id: str) -> str:
    uid = new_id("unit")
    now = datetime.now(UTC)
    await publish(infra, UnitCreated(
        unit_id=uid, org_id=org_id, building_id=building_id, name="A1", status="available",
        price=Money(amount="1", currency="USD"), visibility="public", created_at=now, updated_at=now),
        subject=uid, org_id=org_id)
    return uid


async def ok(resp: Any, status: int = 200) -> Any:
    assert resp.status_code == status, resp.text
    return resp.json()["data"] if resp.content else None


async def sensor(h: ServiceHarness, infra: Infra, org_id: str, *, kind: str = "temperature",
                 building_id: str | None = None, **over: Any) -> dict[str, Any]:
    bid = building_id or await building(infra, org_id)
    body = {"building_id": bid, "kind": kind, "name": f"{kind} sensor", **over}
    return await ok(await h.client.post("/v1/sensors", json=body, headers=h.headers(org_id=org_id)), 201)  # type: ignore[no-any-return]


def ts(seconds_ago: float = 0, *, base: datetime | None = None) -> str:
    moment = (base or datetime.now(UTC)) - timedelta(seconds=seconds_ago)
    return moment.isoformat().replace("+00:00", "Z")


async def post_readings(h: ServiceHarness, org_id: str, readings: list[dict[str, Any]], status: int = 202) -> Any:
    resp = await h.client.post("/v1/readings", json={"readings": readings}, headers=h.headers(org_id=org_id))
    assert resp.status_code == status, resp.text
    return resp.json()


async def stored_count(h: ServiceHarness, org_id: str, sensor_id: str) -> int:
    async with h.raw(org_id=org_id) as conn:
        return int(await conn.fetchval("SELECT count(*) FROM readings WHERE sensor_id = $1", sensor_id))


async def rolled_up_count(h: ServiceHarness, org_id: str, sensor_id: str) -> int:
    async with h.raw(org_id=org_id) as conn:
        return int(await conn.fetchval("SELECT coalesce(sum(n), 0) FROM rollups_1m WHERE sensor_id = $1", sensor_id))


async def wait_stored(h: ServiceHarness, org_id: str, sensor_id: str, count: int, timeout: float = 15) -> None:
    """Until `count` readings are stored and rolled up (the writer rolls up a little after storing: the
    minute rollups, the last value and alert episodes)."""
    async def enough() -> bool:
        return (await stored_count(h, org_id, sensor_id) >= count
                and await rolled_up_count(h, org_id, sensor_id) >= count)

    assert await wait_for(enough, timeout=timeout), (
        f"only {await stored_count(h, org_id, sensor_id)}/{count} stored,"
        f" {await rolled_up_count(h, org_id, sensor_id)} rolled up")
    await asyncio.sleep(0)
