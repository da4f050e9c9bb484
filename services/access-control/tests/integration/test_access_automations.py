"""Codes that follow maintenance visits and leases, driven by the real events on the real topics (twice)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from access_helpers import connect_vendor, place_building, publish, republish, until
from aiokafka import AIOKafkaProducer
from hearth_contracts.maintenance import RequestAssigned, RequestCompleted, RequestRescheduled, TimeWindow
from hearth_contracts.property import LeaseActivated, LeaseEnded
from hearth_contracts.topics import ACCESS_EVENTS
from hearth_kit.ids import new_id
from hearth_kit.testing import EventReader, Infra, ServiceHarness


async def _codes(svc: ServiceHarness, org: str, query: str) -> list[dict[str, Any]]:
    resp = await svc.client.get(f"/v1/access-codes?{query}&include_removed=true", headers=svc.headers(org_id=org))
    return resp.json()["data"]  # type: ignore[no-any-return]


async def test_technician_code_follows_the_request(svc: ServiceHarness, sim: httpx.AsyncClient, sim_url: str,
                                                   producer: AIOKafkaProducer, infra: Infra, org_id: str) -> None:
    place = await place_building(svc, producer, org_id)
    env = await connect_vendor(svc, sim, sim_url, org_id, place=place)
    unit_id = place["unit_ids"][0]
    request_id = new_id("req")
    now = datetime.now(UTC).replace(microsecond=0)
    assigned = RequestAssigned(request_id=request_id, org_id=org_id, building_id=place["building_id"],
                               unit_id=unit_id, assignee_id=new_id("mem"), permission_to_enter=True,
                               window=TimeWindow(start=now - timedelta(minutes=10), end=now + timedelta(hours=2)))
    event_id = await publish(producer, assigned, subject=request_id, org_id=org_id)
    await republish(producer, assigned, subject=request_id, org_id=org_id, event_id=event_id)  # redelivery

    async def active() -> Any:
        codes = await _codes(svc, org_id, f"request_id={request_id}")
        return codes if codes and codes[0]["status"] == "activated" else None
    [code] = await until(active, timeout=30)
    assert code["purpose"] == "technician" and code["refs"]["request_id"] == request_id
    assert len(code["lock_ids"]) == 2  # the unit's door and the common door
    assert code["schedule"]["date_range"]["end"].startswith((now + timedelta(hours=2)).strftime("%Y-%m-%dT%H"))
    # first use on the keypad: code.used with the request ref (maintenance moves the request on from it)
    async with EventReader(infra.kafka_bootstrap, ACCESS_EVENTS.name) as reader:
        door = next(lk for lk in env["locks"] if lk["unit_id"] == unit_id)
        resp = await sim.post(f"/_sim/accounts/{env['account']['account_id']}/keypad",
                              json={"lock_id": door["vendor_lock_id"], "code": code["code"]})
        assert resp.json()["accepted"] is True
        [(_, used)] = await reader.wait_for(lambda k, e: e.type == "hearth.access_code.used.v1"
                                            and e.subject == code["id"])
        assert used.data["refs"]["request_id"] == request_id and used.data["purpose"] == "technician"
    # rescheduled: the same code moves to the new window
    moved = RequestRescheduled(**{**assigned.model_dump(), "window": TimeWindow(
        start=now + timedelta(days=1), end=now + timedelta(days=1, hours=3))})
    await publish(producer, moved, subject=request_id, org_id=org_id)

    async def rescheduled() -> Any:
        codes = await _codes(svc, org_id, f"request_id={request_id}")
        return codes if codes[0]["schedule"]["date_range"]["start"] != code["schedule"]["date_range"]["start"] \
            and codes[0]["status"] == "deactivated" else None
    [after] = await until(rescheduled, timeout=30)
    assert after["id"] == code["id"]
    # completed: removed from every lock
    done = RequestCompleted(request_id=request_id, org_id=org_id, unit_id=unit_id, building_id=place["building_id"])
    event_id = await publish(producer, done, subject=request_id, org_id=org_id)
    await republish(producer, done, subject=request_id, org_id=org_id, event_id=event_id)

    async def removed() -> Any:
        codes = await _codes(svc, org_id, f"request_id={request_id}")
        return codes if codes[0]["removed_at"] else None
    await until(removed, timeout=30)
    async with svc.raw(org_id=org_id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM access_codes") == 1


async def test_no_permission_no_code(svc: ServiceHarness, sim: httpx.AsyncClient, sim_url: str,
                                     producer: AIOKafkaProducer, org_id: str) -> None:
    place = await place_building(svc, producer, org_id)
    await connect_vendor(svc, sim, sim_url, org_id, place=place)
    now = datetime.now(UTC)
    marker = new_id("req")
    await publish(producer, RequestAssigned(
        request_id=new_id("req"), org_id=org_id, building_id=place["building_id"], unit_id=place["unit_ids"][0],
        assignee_id=new_id("mem"), permission_to_enter=False,
        window=TimeWindow(start=now, end=now + timedelta(hours=1))),
        subject=marker, org_id=org_id)
    # a later request with permission proves the first one was consumed (same partition key) and ignored
    await publish(producer, RequestAssigned(
        request_id=marker, org_id=org_id, building_id=place["building_id"], unit_id=place["unit_ids"][0],
        assignee_id=new_id("mem"), permission_to_enter=True,
        window=TimeWindow(start=now, end=now + timedelta(hours=1))),
        subject=marker, org_id=org_id)
    await until(lambda: _codes(svc, org_id, f"request_id={marker}"), timeout=30)
    assert len(await _codes(svc, org_id, "purpose=technician")) == 1


async def test_lease_codes_and_access_cleared_once_every_lock_confirms(
        svc: ServiceHarness, sim: httpx.AsyncClient, sim_url: str, producer: AIOKafkaProducer, infra: Infra,
        org_id: str) -> None:
    place = await place_building(svc, producer, org_id)
    env = await connect_vendor(svc, sim, sim_url, org_id, place=place)
    unit_id = place["unit_ids"][0]
    lease_id = new_id("lease")
    residents = [new_id("res"), new_id("res")]
    now = datetime.now(UTC)
    lease = {"lease_id": lease_id, "org_id": org_id, "unit_id": unit_id, "building_id": place["building_id"],
             "resident_ids": residents, "type": "fixed", "start_date": date.today(), "end_date": None,
             "rent": {"amount": "1000.00", "currency": "USD"}, "deposit": {"amount": "1000.00", "currency": "USD"},
             "payment_due_day": 1, "status": "active", "created_at": now, "updated_at": now}
    activated = LeaseActivated(**lease)
    event_id = await publish(producer, activated, subject=lease_id, org_id=org_id)
    await republish(producer, activated, subject=lease_id, org_id=org_id, event_id=event_id)

    async def both_active() -> Any:
        codes = await _codes(svc, org_id, f"lease_id={lease_id}")
        return codes if len(codes) == 2 and all(c["status"] == "activated" for c in codes) else None
    codes = await until(both_active, timeout=30)
    assert {c["resident_id"] for c in codes} == set(residents)
    assert len({c["code"] for c in codes}) == 2
    # one of the unit's locks is offline when the lease ends: no clearance until it confirms
    acct = env["account"]["account_id"]
    door = next(lk for lk in env["locks"] if lk["unit_id"] == unit_id)
    await sim.patch(f"/_sim/accounts/{acct}/locks/{door['vendor_lock_id']}", json={"online": False})
    async with EventReader(infra.kafka_bootstrap, ACCESS_EVENTS.name) as reader:
        ended = LeaseEnded(**{**lease, "status": "past", "end_date": date.today()}, reason="expired")
        event_id = await publish(producer, ended, subject=lease_id, org_id=org_id)
        await republish(producer, ended, subject=lease_id, org_id=org_id, event_id=event_id)

        async def removal_pending() -> Any:
            got = await _codes(svc, org_id, f"lease_id={lease_id}")
            return got if all(c["deleted"] and c["status"] == "deactivation_pending" for c in got) else None
        await until(removal_pending, timeout=30)
        import asyncio
        await asyncio.sleep(1.0)
        assert not [e for _, e in reader.seen if e.type == "hearth.unit.access_cleared.v1"]
        await sim.patch(f"/_sim/accounts/{acct}/locks/{door['vendor_lock_id']}", json={"online": True})
        [(_, cleared)] = await reader.wait_for(lambda k, e: e.type == "hearth.unit.access_cleared.v1"
                                               and e.subject == unit_id, timeout=30)
        assert cleared.data["lease_id"] == lease_id
        await asyncio.sleep(1.0)
        assert len([e for _, e in reader.seen if e.type == "hearth.unit.access_cleared.v1"
                    and e.subject == unit_id]) == 1
    assert all(c["removed_at"] for c in await _codes(svc, org_id, f"lease_id={lease_id}"))
