"""Requests that open and move themselves: alert, lock and code-use facts produced to the real topics open or move
exactly one request each, delivered twice and with the consumer restarted in between; a deleted unit cancels its
open requests; the overdue job announces once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from hearth_contracts.access import AccessCodeUsed, CodeRefs, LockBatteryLow, LockJammed, LockOnline
from hearth_contracts.envelope import EventData
from hearth_contracts.property import UnitDeleted
from hearth_contracts.telemetry import AlertCleared, AlertRaised
from hearth_kit.ids import new_id
from hearth_kit.messaging import new_broker, wait_for
from hearth_kit.testing import EventReader, Infra, ServiceHarness
from hearth_maintenance.consumers import SUBSCRIPTIONS
from maint_helpers import World, make_world, mk_request, ok, problem, produce

pytestmark = pytest.mark.integration


@pytest.fixture
async def world(maint: ServiceHarness, producer: AIOKafkaProducer, org_id: str) -> World:
    return await make_world(maint, producer, org_id)


def raised(w: World, sensor: str, *, kind: str = "water_leak", severity: str = "critical",
           alert_id: str | None = None) -> AlertRaised:
    return AlertRaised(alert_id=alert_id or new_id("alr"), org_id=w.org, rule_id=new_id("rul"), sensor_id=sensor,
                       sensor_kind=kind, building_id=w.building, unit_id=w.unit, severity=severity,
                       condition="equals", value=1.0, threshold=1.0, raised_at=datetime.now(UTC))


async def requests_where(h: ServiceHarness, org: str, column: str, value: str) -> list[dict[str, Any]]:
    async with h.raw(org_id=org) as conn:
        rows = await conn.fetch(f"SELECT id, status, priority, category, source FROM requests WHERE {column} = $1",
                                value)
    return [dict(r) for r in rows]


async def eventually_count(h: ServiceHarness, org: str, column: str, value: str, n: int) -> list[dict[str, Any]]:
    async def enough() -> bool:
        return len(await requests_where(h, org, column, value)) >= n
    assert await wait_for(enough, timeout=20)
    return await requests_where(h, org, column, value)


async def settle(h: ServiceHarness, producer: AIOKafkaProducer, w: World) -> None:
    """Wait until everything produced before now was consumed: a marker building is projected last."""
    from maint_helpers import project_building, projected
    marker = await project_building(producer, w.org)
    await projected(h, w.org, "buildings", marker)


async def restart_consumers(h: ServiceHarness) -> None:
    """Stop the service's consumers (as a crash would) and start fresh ones in the same groups."""
    runtime = h.app.state.runtime
    await runtime.broker.stop()
    runtime.broker = new_broker(runtime.settings.kafka_bootstrap, client_id="hearth-maintenance-restarted")
    for subscription in SUBSCRIPTIONS:
        subscription.attach(runtime.broker, db=runtime.db, source=runtime.source, dead_letters=runtime.dead_letters)
    await runtime.broker.start()


async def deliver_twice_across_restart(h: ServiceHarness, producer: AIOKafkaProducer, data: EventData, *,
                                       subject: str, org: str) -> str:
    event_id = await produce(producer, data, subject=subject, org_id=org)
    await restart_consumers(h)
    await produce(producer, data, subject=subject, org_id=org, event_id=event_id)
    return event_id


async def test_water_leak_opens_one_emergency_request(maint: ServiceHarness, producer: AIOKafkaProducer,
                                                      world: World, infra: Infra) -> None:
    sensor = new_id("sen")
    alert = raised(world, sensor)
    async with EventReader(infra.kafka_bootstrap, "maintenance.events") as reader:
        await deliver_twice_across_restart(maint, producer, alert, subject=sensor, org=world.org)
        (req,) = await eventually_count(maint, world.org, "sensor_id", sensor, 1)
        await reader.wait_for(lambda k, e: e.subject == req["id"] and e.type.endswith("created.v1"))
    await settle(maint, producer, world)
    assert await requests_where(maint, world.org, "sensor_id", sensor) == [req]
    assert (req["priority"], req["category"], req["source"], req["status"]) == (
        "emergency", "plumbing", "sensor", "new")
    # another raise of the same sensor while open: a comment, not a second request
    await produce(producer, raised(world, sensor, severity="warning"), subject=sensor, org_id=world.org)
    h = maint.headers(org_id=world.org)

    async def commented() -> bool:
        return len(ok(await maint.client.get(f"/v1/requests/{req['id']}/comments", headers=h))) == 1
    assert await wait_for(commented, timeout=20)
    assert len(await requests_where(maint, world.org, "sensor_id", sensor)) == 1


async def test_other_alerts_follow_severity(maint: ServiceHarness, producer: AIOKafkaProducer, world: World) -> None:
    cases = [("temperature", "critical", "high", "hvac"), ("energy", "warning", "normal", "electrical"),
             ("occupancy", "info", "low", "general")]
    sensors = []
    for kind, severity, _, _ in cases:
        sensor = new_id("sen")
        sensors.append(sensor)
        await produce(producer, raised(world, sensor, kind=kind, severity=severity), subject=sensor, org_id=world.org)
    for sensor, (_, _, priority, category) in zip(sensors, cases, strict=True):
        (req,) = await eventually_count(maint, world.org, "sensor_id", sensor, 1)
        assert (req["priority"], req["category"]) == (priority, category)


async def test_sensor_request_completes_only_after_clear_or_forced(maint: ServiceHarness, producer: AIOKafkaProducer,
                                                                   world: World) -> None:
    sensor, alert_id = new_id("sen"), new_id("alr")
    await produce(producer, raised(world, sensor, alert_id=alert_id), subject=sensor, org_id=world.org)
    (req,) = await eventually_count(maint, world.org, "sensor_id", sensor, 1)
    h = maint.headers(org_id=world.org, role="manager")
    ok(await maint.client.post(f"/v1/requests/{req['id']}/assign", json={"assignee_id": world.tech}, headers=h))
    tech = maint.headers(org_id=world.org, role="technician", member_id=world.tech)
    ok(await maint.client.post(f"/v1/requests/{req['id']}/start", headers=tech))
    p = problem(await maint.client.post(f"/v1/requests/{req['id']}/complete", headers=tech), 409)
    assert p["type"].endswith("alert-still-raised") and sensor in p["detail"]
    problem(await maint.client.post(f"/v1/requests/{req['id']}/complete", json={"force": True}, headers=tech), 403)
    problem(await maint.client.patch(f"/v1/requests/{req['id']}", json={"status": "done"}, headers=h), 409)
    cleared = AlertCleared(alert_id=alert_id, org_id=world.org, sensor_id=sensor, sensor_kind="water_leak",
                           building_id=world.building, severity="critical", cleared_at=datetime.now(UTC))
    await deliver_twice_across_restart(maint, producer, cleared, subject=sensor, org=world.org)

    async def clear_recorded() -> bool:
        got = ok(await maint.client.get(f"/v1/requests/{req['id']}", headers=h))
        return not got["alert_active"]
    assert await wait_for(clear_recorded, timeout=20)
    await settle(maint, producer, world)
    got = ok(await maint.client.get(f"/v1/requests/{req['id']}", headers=h))
    kinds = [x["kind"] for x in got["history"]]
    assert kinds.count("alert_cleared") == 1
    assert got["history"][kinds.index("alert_cleared")]["details"]["alert_id"] == alert_id
    assert ok(await maint.client.post(f"/v1/requests/{req['id']}/complete", headers=tech))["status"] == "done"


async def test_manager_may_force_completion_while_raised(maint: ServiceHarness, producer: AIOKafkaProducer,
                                                         world: World) -> None:
    sensor = new_id("sen")
    await produce(producer, raised(world, sensor), subject=sensor, org_id=world.org)
    (req,) = await eventually_count(maint, world.org, "sensor_id", sensor, 1)
    h = maint.headers(org_id=world.org, role="manager")
    ok(await maint.client.post(f"/v1/requests/{req['id']}/assign", json={"assignee_id": world.tech}, headers=h))
    ok(await maint.client.post(f"/v1/requests/{req['id']}/start", headers=h))
    done = ok(await maint.client.patch(f"/v1/requests/{req['id']}", json={"status": "done", "force": True}, headers=h))
    assert done["status"] == "done"
    got = ok(await maint.client.get(f"/v1/requests/{req['id']}", headers=h))
    assert got["history"][-1]["details"] == {"forced": True}
    # the sensor's next raise opens a new request: the old one is closed
    await produce(producer, raised(world, sensor), subject=sensor, org_id=world.org)
    await eventually_count(maint, world.org, "sensor_id", sensor, 2)


def lock_fact(w: World, lock: str, cls: type[LockJammed] | type[LockBatteryLow] | type[LockOnline]) -> EventData:
    return cls(org_id=w.org, lock_id=lock, building_id=w.building, unit_id=w.unit, battery_pct=9,
               at=datetime.now(UTC))


async def test_lock_facts_open_one_locks_request(maint: ServiceHarness, producer: AIOKafkaProducer,
                                                 world: World) -> None:
    lock = new_id("lock")
    await deliver_twice_across_restart(maint, producer, lock_fact(world, lock, LockJammed), subject=lock,
                                       org=world.org)
    await produce(producer, lock_fact(world, lock, LockBatteryLow), subject=lock, org_id=world.org)
    await produce(producer, lock_fact(world, lock, LockOnline), subject=lock, org_id=world.org)  # not a problem
    (req,) = await eventually_count(maint, world.org, "lock_id", lock, 1)
    await settle(maint, producer, world)
    assert await requests_where(maint, world.org, "lock_id", lock) == [req]
    assert (req["category"], req["priority"], req["source"]) == ("locks", "high", "lock")
    comments = ok(await maint.client.get(f"/v1/requests/{req['id']}/comments", headers=maint.headers(org_id=world.org)))
    assert len(comments) == 1 and "battery" in comments[0]["body"].lower()
    other = new_id("lock")
    await produce(producer, lock_fact(world, other, LockBatteryLow), subject=other, org_id=world.org)
    (low,) = await eventually_count(maint, world.org, "lock_id", other, 1)
    assert low["priority"] == "normal"


async def test_code_use_moves_an_assigned_request_once(maint: ServiceHarness, producer: AIOKafkaProducer,
                                                       world: World, infra: Infra) -> None:
    req = await mk_request(maint, world, assignee_id=world.tech)
    lock, code = new_id("lock"), new_id("code")
    used = AccessCodeUsed(org_id=world.org, access_code_id=code, lock_id=lock, purpose="technician",
                          refs=CodeRefs(request_id=req["id"]), at=datetime.now(UTC))
    async with EventReader(infra.kafka_bootstrap, "maintenance.events") as reader:
        await deliver_twice_across_restart(maint, producer, used, subject=code, org=world.org)
        h = maint.headers(org_id=world.org)

        async def started() -> bool:
            return bool(ok(await maint.client.get(f"/v1/requests/{req['id']}", headers=h))["status"] == "in_progress")
        assert await wait_for(started, timeout=20)
        await settle(maint, producer, world)
        await reader.wait_for(lambda k, e: e.subject == req["id"] and e.type.endswith("status_changed.v1"))
    moves = [e for _, e in reader.seen if e.subject == req["id"] and e.type.endswith("status_changed.v1")]
    assert len(moves) == 1 and moves[0].data["status"] == "in_progress"
    got = ok(await maint.client.get(f"/v1/requests/{req['id']}", headers=h))
    last = got["history"][-1]
    assert (last["from"], last["to"], last["actor_id"]) == ("assigned", "in_progress", world.tech)
    assert last["details"]["lock_id"] == lock and last["details"]["access_code_id"] == code
    # another org's code naming this request: ignored; used again while in progress: noted, not moved.
    # Both share a key (one partition, in order), so once the second is noted the first was handled too
    # (a property-topic marker says nothing about this topic's consumer).
    foreign = AccessCodeUsed(org_id=new_id("org"), access_code_id=new_id("code"), lock_id=lock, purpose="technician",
                             refs=CodeRefs(request_id=req["id"]), at=datetime.now(UTC))
    await produce(producer, foreign, subject=code, org_id=foreign.org_id)
    await produce(producer, used, subject=code, org_id=world.org)

    async def noted() -> bool:
        history = ok(await maint.client.get(f"/v1/requests/{req['id']}", headers=h))["history"]
        return any(x["kind"] == "code_used" for x in history)
    assert await wait_for(noted, timeout=20)
    got = ok(await maint.client.get(f"/v1/requests/{req['id']}", headers=h))
    assert [x["kind"] for x in got["history"]][-1] == "code_used"
    assert [x["kind"] for x in got["history"]].count("code_used") == 1


async def test_deleted_unit_cancels_its_open_requests(maint: ServiceHarness, producer: AIOKafkaProducer,
                                                      world: World) -> None:
    h = maint.headers(org_id=world.org)
    open_one = await mk_request(maint, world)
    assigned = await mk_request(maint, world, assignee_id=world.tech)
    closed = await mk_request(maint, world)
    ok(await maint.client.post(f"/v1/requests/{closed['id']}/cancel", json={"reason": "dup"}, headers=h))
    elsewhere = await mk_request(maint, world, unit_id=None)
    deleted = UnitDeleted(unit_id=world.unit, org_id=world.org, building_id=world.building)
    await deliver_twice_across_restart(maint, producer, deleted, subject=world.unit, org=world.org)

    async def canceled() -> bool:
        got = ok(await maint.client.get(f"/v1/requests?unit_id={world.unit}&status=canceled", headers=h))
        return len(got) == 3
    assert await wait_for(canceled, timeout=20)
    for req in (open_one, assigned):
        got = ok(await maint.client.get(f"/v1/requests/{req['id']}", headers=h))
        assert got["history"][-1]["reason"] == f"unit {world.unit} was deleted"
        assert [x["to"] for x in got["history"]].count("canceled") == 1
    assert ok(await maint.client.get(f"/v1/requests/{elsewhere['id']}", headers=h))["status"] == "new"
    p = problem(await maint.client.post("/v1/requests", json={"building_id": world.building, "unit_id": world.unit,
                                                              "title": "x"}, headers=h), 422)
    assert p["errors"][0]["field"] == "unit_id"


async def test_overdue_is_announced_once(maint: ServiceHarness, world: World, infra: Infra) -> None:
    req = await mk_request(maint, world, priority="emergency")
    fresh = await mk_request(maint, world)
    async with EventReader(infra.kafka_bootstrap, "maintenance.events") as reader:
        async with maint.raw(org_id=world.org) as conn:
            await conn.execute("UPDATE requests SET due_at = now() - interval '1 minute' WHERE id = $1", req["id"])
        (_, event), = await reader.wait_for(lambda k, e: e.type == "hearth.request.overdue.v1"
                                            and e.subject == req["id"], timeout=20)
        assert event.data["priority"] == "emergency" and event.orgid == world.org
        # several more sweeps (every 0.3 s in tests) announce nothing new for it; a later marker event
        # bounds what the reader has seen
        await asyncio.sleep(1.0)
        marker = await mk_request(maint, world)
        await reader.wait_for(lambda k, e: e.subject == marker["id"], timeout=20)
    overdue = [e for _, e in reader.seen if e.type == "hearth.request.overdue.v1" and e.orgid == world.org]
    assert [e.subject for e in overdue] == [req["id"]]
    h = maint.headers(org_id=world.org)
    assert ok(await maint.client.get(f"/v1/requests/{req['id']}", headers=h))["overdue"] is True
    assert ok(await maint.client.get(f"/v1/requests/{fresh['id']}", headers=h))["overdue"] is False
