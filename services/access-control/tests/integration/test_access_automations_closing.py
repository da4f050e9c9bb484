"""How automation codes end: a canceled request, an unassigned one (and its next assignment), a lease
terminated with a date ahead (removed at the start of that day in the building's zone) or already due.
Every event goes to the real topic twice (the same event id: a redelivery)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from access_helpers import connect_vendor, place_building, publish, republish, until
from aiokafka import AIOKafkaProducer
from hearth_contracts.maintenance import RequestAssigned, RequestCanceled, RequestUnassigned, TimeWindow
from hearth_contracts.property import LeaseActivated, LeaseTerminated
from hearth_contracts.topics import ACCESS_EVENTS
from hearth_kit.ids import new_id
from hearth_kit.testing import EventReader, Infra, ServiceHarness

NEW_YORK = ZoneInfo("America/New_York")  # place_building's zone


async def _codes(svc: ServiceHarness, org: str, query: str) -> list[dict[str, Any]]:
    resp = await svc.client.get(f"/v1/access-codes?{query}&include_removed=true", headers=svc.headers(org_id=org))
    return resp.json()["data"]  # type: ignore[no-any-return]


async def _twice(producer: AIOKafkaProducer, data: Any, *, subject: str, org_id: str) -> None:
    event_id = await publish(producer, data, subject=subject, org_id=org_id)
    await republish(producer, data, subject=subject, org_id=org_id, event_id=event_id)


def _assigned(org_id: str, place: dict[str, Any], request_id: str) -> RequestAssigned:
    now = datetime.now(UTC).replace(microsecond=0)
    return RequestAssigned(request_id=request_id, org_id=org_id, building_id=place["building_id"],
                           unit_id=place["unit_ids"][0], assignee_id=new_id("mem"), permission_to_enter=True,
                           window=TimeWindow(start=now - timedelta(minutes=10), end=now + timedelta(hours=2)))


async def _active_technician_code(svc: ServiceHarness, org_id: str, request_id: str) -> dict[str, Any]:
    async def active() -> Any:
        live = [c for c in await _codes(svc, org_id, f"request_id={request_id}") if not c["deleted"]]
        return live if live and live[0]["status"] == "activated" else None
    [code] = await until(active, timeout=30)
    return code  # type: ignore[no-any-return]


async def _removed(svc: ServiceHarness, org_id: str, code_id: str) -> dict[str, Any]:
    async def gone() -> Any:
        got = (await svc.client.get(f"/v1/access-codes/{code_id}", headers=svc.headers(org_id=org_id))).json()
        return got["data"] if got["data"]["removed_at"] else None
    return await until(gone, timeout=30)  # type: ignore[no-any-return]


async def test_a_canceled_request_loses_its_code(svc: ServiceHarness, sim: httpx.AsyncClient, sim_url: str,
                                                 producer: AIOKafkaProducer, org_id: str) -> None:
    place = await place_building(svc, producer, org_id)
    await connect_vendor(svc, sim, sim_url, org_id, place=place)
    request_id = new_id("req")
    await _twice(producer, _assigned(org_id, place, request_id), subject=request_id, org_id=org_id)
    code = await _active_technician_code(svc, org_id, request_id)
    canceled = RequestCanceled(request_id=request_id, org_id=org_id, building_id=place["building_id"],
                               unit_id=place["unit_ids"][0], reason="resident fixed it")
    await _twice(producer, canceled, subject=request_id, org_id=org_id)
    removed = await _removed(svc, org_id, code["id"])
    assert removed["deleted"] is True and removed["status"] == "deactivated"
    assert all(s["status"] == "deactivated" for s in removed["lock_status"])
    async with svc.raw(org_id=org_id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM access_codes WHERE request_id = $1", request_id) == 1


async def test_an_unassigned_request_loses_its_code_and_the_next_assignment_gets_a_new_one(
        svc: ServiceHarness, sim: httpx.AsyncClient, sim_url: str, producer: AIOKafkaProducer, org_id: str) -> None:
    place = await place_building(svc, producer, org_id)
    await connect_vendor(svc, sim, sim_url, org_id, place=place)
    request_id = new_id("req")
    first = _assigned(org_id, place, request_id)
    await _twice(producer, first, subject=request_id, org_id=org_id)
    code = await _active_technician_code(svc, org_id, request_id)
    unassigned = RequestUnassigned(request_id=request_id, org_id=org_id, building_id=place["building_id"],
                                   unit_id=place["unit_ids"][0], previous_assignee_id=first.assignee_id,
                                   reason="technician off sick")
    await _twice(producer, unassigned, subject=request_id, org_id=org_id)
    await _removed(svc, org_id, code["id"])
    # assigned again (another technician): a fresh code, never the removed one brought back
    await _twice(producer, _assigned(org_id, place, request_id), subject=request_id, org_id=org_id)
    again = await _active_technician_code(svc, org_id, request_id)
    assert again["id"] != code["id"]
    codes = await _codes(svc, org_id, f"request_id={request_id}")
    assert sorted(c["deleted"] for c in codes) == [False, True]


def _lease(org_id: str, place: dict[str, Any]) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"lease_id": new_id("lease"), "org_id": org_id, "unit_id": place["unit_ids"][0],
            "building_id": place["building_id"], "resident_ids": [new_id("res")], "type": "fixed",
            "start_date": date.today() - timedelta(days=30), "end_date": None,
            "rent": {"amount": "1000.00", "currency": "USD"}, "deposit": {"amount": "1000.00", "currency": "USD"},
            "payment_due_day": 1, "status": "active", "created_at": now, "updated_at": now}


async def _resident_codes_active(svc: ServiceHarness, producer: AIOKafkaProducer, org_id: str,
                                 lease: dict[str, Any]) -> list[dict[str, Any]]:
    await _twice(producer, LeaseActivated(**lease), subject=lease["lease_id"], org_id=org_id)

    async def active() -> Any:
        codes = await _codes(svc, org_id, f"lease_id={lease['lease_id']}")
        return codes if codes and all(c["status"] == "activated" for c in codes) else None
    return await until(active, timeout=30)  # type: ignore[no-any-return]


async def test_a_lease_terminated_for_a_later_day_keeps_its_codes_until_that_day(
        svc: ServiceHarness, sim: httpx.AsyncClient, sim_url: str, producer: AIOKafkaProducer, infra: Infra,
        org_id: str) -> None:
    place = await place_building(svc, producer, org_id)
    await connect_vendor(svc, sim, sim_url, org_id, place=place)
    lease = _lease(org_id, place)
    [code] = await _resident_codes_active(svc, producer, org_id, lease)
    last_day = datetime.now(NEW_YORK).date() + timedelta(days=3)
    terminated = LeaseTerminated(**{**lease, "terminated_on": last_day, "termination_reason": "moving out"})
    await _twice(producer, terminated, subject=lease["lease_id"], org_id=org_id)

    async def scheduled() -> Any:
        async with svc.raw(org_id=org_id) as conn:
            return await conn.fetchval("SELECT remove_at FROM lease_code_removals WHERE lease_id = $1",
                                       lease["lease_id"])
    remove_at = await until(scheduled, timeout=30)
    # the start of that day in the building's zone, not in UTC
    assert remove_at == datetime(last_day.year, last_day.month, last_day.day, tzinfo=NEW_YORK)
    got = (await svc.client.get(f"/v1/access-codes/{code['id']}", headers=svc.headers(org_id=org_id))).json()["data"]
    assert got["deleted"] is False and got["status"] == "activated"
    # the day comes (moved to now in the table): the scheduler removes the codes, then clears the unit once
    async with EventReader(infra.kafka_bootstrap, ACCESS_EVENTS.name) as reader:
        async with svc.raw(org_id=org_id) as conn:
            await conn.execute("UPDATE lease_code_removals SET remove_at = now() WHERE lease_id = $1",
                               lease["lease_id"])
        await _removed(svc, org_id, code["id"])
        [(_, cleared)] = await reader.wait_for(lambda k, e: e.type == "hearth.unit.access_cleared.v1"
                                               and e.data.get("lease_id") == lease["lease_id"], timeout=30)
        assert cleared.subject == lease["unit_id"]
    async with svc.raw(org_id=org_id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM lease_code_removals WHERE lease_id = $1",
                                   lease["lease_id"]) == 0


async def test_a_lease_terminated_as_of_today_loses_its_codes_at_once(
        svc: ServiceHarness, sim: httpx.AsyncClient, sim_url: str, producer: AIOKafkaProducer, org_id: str) -> None:
    place = await place_building(svc, producer, org_id)
    await connect_vendor(svc, sim, sim_url, org_id, place=place)
    lease = _lease(org_id, place)
    [code] = await _resident_codes_active(svc, producer, org_id, lease)
    today = datetime.now(NEW_YORK).date()
    terminated = LeaseTerminated(**{**lease, "status": "terminated", "terminated_on": today,
                                    "termination_reason": "eviction"})
    await _twice(producer, terminated, subject=lease["lease_id"], org_id=org_id)
    removed = await _removed(svc, org_id, code["id"])
    assert removed["deleted"] is True
    async with svc.raw(org_id=org_id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM lease_code_removals WHERE lease_id = $1",
                                   lease["lease_id"]) == 0
        assert await conn.fetchval("SELECT cleared_at IS NOT NULL FROM lease_clearances WHERE lease_id = $1",
                                   lease["lease_id"])
