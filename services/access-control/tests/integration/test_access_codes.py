"""Access codes against the simulator: validation, per-lock states, keypad use, removal, bounded retries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from access_helpers import connect_vendor, place_building, until
from aiokafka import AIOKafkaProducer
from hearth_contracts.topics import ACCESS_EVENTS
from hearth_kit.testing import EventReader, Infra, ServiceHarness


async def _setup(svc: ServiceHarness, sim: httpx.AsyncClient, sim_url: str, producer: AIOKafkaProducer,
                 org: str, **kw: Any) -> dict[str, Any]:
    place = await place_building(svc, producer, org)
    return {**await connect_vendor(svc, sim, sim_url, org, place=place, **kw), "place": place}


async def _code_status(svc: ServiceHarness, org: str, code_id: str, wanted: str) -> dict[str, Any]:
    async def check() -> Any:
        got = (await svc.client.get(f"/v1/access-codes/{code_id}", headers=svc.headers(org_id=org))).json()["data"]
        return got if got["status"] == wanted else None
    return await until(check)  # type: ignore[no-any-return]


async def test_code_on_a_unit_activates_on_its_doors_and_common_doors(
        svc: ServiceHarness, sim: httpx.AsyncClient, sim_url: str, producer: AIOKafkaProducer, infra: Infra,
        org_id: str) -> None:
    env = await _setup(svc, sim, sim_url, producer, org_id, locks_per_unit=2)
    h = svc.headers(org_id=org_id)
    unit_id = env["place"]["unit_ids"][0]
    async with EventReader(infra.kafka_bootstrap, ACCESS_EVENTS.name) as reader:
        resp = await svc.client.post("/v1/access-codes", headers=h, json={
            "name": "Guest", "code": "4821", "unit_id": unit_id, "purpose": "guest",
            "unlock_notifications": "every-use"})
        assert resp.status_code == 201, resp.text
        code = resp.json()["data"]
        assert code["code"] == "4821" and len(code["lock_ids"]) == 3
        assert {s["status"] for s in code["lock_status"]} == {"new"}
        done = await _code_status(svc, org_id, code["id"], "activated")
        assert {s["status"] for s in done["lock_status"]} == {"activated"}
        await reader.wait_for(lambda k, e: e.type == "hearth.access_code.created.v1" and e.subject == code["id"])
        await reader.wait_for(lambda k, e: e.type == "hearth.access_code.lock_status_changed.v1"
                              and e.subject == code["id"] and e.data["status"] == "activated", count=3)
        # someone types it on the unit's door: the vendor's event becomes code.used with the lock
        door = next(lk for lk in env["locks"] if lk["unit_id"] == unit_id)
        used = await sim.post(f"/_sim/accounts/{env['account']['account_id']}/keypad",
                              json={"lock_id": door["vendor_lock_id"], "code": "4821"})
        assert used.json()["accepted"] is True
        [(_, event)] = await reader.wait_for(lambda k, e: e.type == "hearth.access_code.used.v1"
                                             and e.subject == code["id"])
        assert event.data["lock_id"] == door["id"] and event.data["purpose"] == "guest"
        await reader.wait_for(lambda k, e: e.type == "hearth.lock.unlocked.v1" and e.data["method"] == "keypad"
                              and e.data["access_code_id"] == code["id"])
    events = (await svc.client.get(f"/v1/lock-events?lock_id={door['id']}&type=unlocked", headers=h)).json()
    assert events["data"][0]["access_code_id"] == code["id"] and events["data"][0]["method"] == "keypad"
    # removal: deleted while pending, removed once every lock confirms, then gone from the vendor
    resp = await svc.client.delete(f"/v1/access-codes/{code['id']}", headers=h)
    assert resp.status_code == 202 and resp.json()["data"]["deleted"] is True

    async def removed() -> Any:
        got = (await svc.client.get(f"/v1/access-codes/{code['id']}", headers=h)).json()["data"]
        return got if got["removed_at"] else None
    gone = await until(removed)
    assert {s["status"] for s in gone["lock_status"]} == {"deactivated"}
    assert (await sim.get(f"/_sim/accounts/{env['account']['account_id']}")).json()["codes"] == {}


async def test_validation_duplicates_and_slots(svc: ServiceHarness, sim: httpx.AsyncClient, sim_url: str,
                                               producer: AIOKafkaProducer, org_id: str) -> None:
    env = await _setup(svc, sim, sim_url, producer, org_id)
    h = svc.headers(org_id=org_id)
    unit_id = env["place"]["unit_ids"][0]
    base = {"name": "C", "unit_id": unit_id}
    for code, slug in [("1111", "weak-code"), ("1234", "weak-code"), ("482", "invalid-code"),
                       ("0482", "invalid-code"), ("482159", "code-length")]:
        resp = await svc.client.post("/v1/access-codes", headers=h, json={**base, "code": code})
        assert resp.status_code == 422, (code, resp.text)
        assert resp.json()["type"].endswith(slug)
    bad = {"manual": "activated", "date_range": {"start": "2030-01-01T00:00:00Z"}}
    resp = await svc.client.post("/v1/access-codes", headers=h, json={**base, "code": "4821", "schedule": bad})
    assert resp.status_code == 422
    assert (await svc.client.post("/v1/access-codes", headers=h, json={**base, "code": "4821"})).status_code == 201
    dup = await svc.client.post("/v1/access-codes", headers=h, json={**base, "code": "4821"})
    assert dup.status_code == 409 and dup.json()["type"].endswith("duplicate_code_on_lock")
    generated = await svc.client.post("/v1/access-codes", headers=h, json=base)
    assert generated.status_code == 201 and len(generated.json()["data"]["code"]) == 4
    # fill the locks' slots (20 each by default): the next one is refused with no_space_on_lock
    async with svc.raw(org_id=org_id) as conn:
        await conn.execute("UPDATE locks SET max_codes = 2")
    full = await svc.client.post("/v1/access-codes", headers=h, json=base)
    assert full.status_code == 409 and full.json()["type"].endswith("no_space_on_lock")
    async with svc.raw(org_id=org_id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM access_codes") == 2


async def test_offline_lock_stays_pending_then_activates(svc: ServiceHarness, sim: httpx.AsyncClient, sim_url: str,
                                                         producer: AIOKafkaProducer, org_id: str) -> None:
    env = await _setup(svc, sim, sim_url, producer, org_id, common_doors=0)
    h = svc.headers(org_id=org_id)
    acct = env["account"]["account_id"]
    lock = env["locks"][0]
    await sim.patch(f"/_sim/accounts/{acct}/locks/{lock['vendor_lock_id']}", json={"online": False})
    code = (await svc.client.post("/v1/access-codes", headers=h, json={
        "name": "Pending", "code": "5931", "lock_ids": [lock["id"]]})).json()["data"]
    await _code_status(svc, org_id, code["id"], "activation_pending")
    await sim.patch(f"/_sim/accounts/{acct}/locks/{lock['vendor_lock_id']}", json={"online": True})
    await _code_status(svc, org_id, code["id"], "activated")


async def test_vendor_failures_retry_with_a_bound_and_an_event(
        svc: ServiceHarness, sim: httpx.AsyncClient, sim_url: str, producer: AIOKafkaProducer, infra: Infra,
        org_id: str) -> None:
    env = await _setup(svc, sim, sim_url, producer, org_id, common_doors=0)
    h = svc.headers(org_id=org_id)
    acct = env["account"]["account_id"]
    await sim.post(f"/_sim/accounts/{acct}/faults", json={"status": 505, "count": 1000, "match": "POST codes"})
    async with EventReader(infra.kafka_bootstrap, ACCESS_EVENTS.name) as reader:
        code = (await svc.client.post("/v1/access-codes", headers=h, json={
            "name": "Never", "code": "5931", "unit_id": env["place"]["unit_ids"][0]})).json()["data"]
        [(_, failed)] = await reader.wait_for(lambda k, e: e.type == "hearth.access_code.sync_failed.v1"
                                              and e.subject == code["id"], timeout=30)
    assert failed.data["attempts"] == 3
    got = (await svc.client.get(f"/v1/access-codes/{code['id']}", headers=h)).json()["data"]
    assert got["status"] == "activation_pending_with_failure"
    calls = (await sim.get(f"/_sim/accounts/{acct}")).json()["calls"]["POST codes"]
    assert calls == 3 * 2  # 3 scheduler attempts x 2 driver attempts each, then it stops
    # and it stays stopped
    import asyncio
    await asyncio.sleep(1)
    assert (await sim.get(f"/_sim/accounts/{acct}")).json()["calls"]["POST codes"] == calls


async def test_time_bound_code_is_programmed_with_its_window_and_reschedule_moves_it(
        svc: ServiceHarness, sim: httpx.AsyncClient, sim_url: str, producer: AIOKafkaProducer, org_id: str) -> None:
    env = await _setup(svc, sim, sim_url, producer, org_id, common_doors=0)
    h = svc.headers(org_id=org_id)
    acct = env["account"]["account_id"]
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    later = {"date_range": {"start": (now + timedelta(days=2)).isoformat(),
                            "end": (now + timedelta(days=2, hours=2)).isoformat()}}
    code = (await svc.client.post("/v1/access-codes", headers=h, json={
        "name": "Visit", "code": "5931", "unit_id": env["place"]["unit_ids"][0], "schedule": later})).json()["data"]
    import asyncio
    await asyncio.sleep(0.8)
    assert (await sim.get(f"/_sim/accounts/{acct}")).json()["codes"] == {}  # not in its window: not on the lock
    current = {"date_range": {"start": (now - timedelta(minutes=5)).isoformat(),
                              "end": (now + timedelta(hours=1)).isoformat()}}
    resp = await svc.client.put(f"/v1/access-codes/{code['id']}", headers=h, json={"name": "Visit",
                                                                                    "schedule": current})
    assert resp.status_code == 200, resp.text
    await _code_status(svc, org_id, code["id"], "activated")
    [stored] = (await sim.get(f"/_sim/accounts/{acct}")).json()["codes"].values()
    assert stored["daterangeend"] is not None and stored["manual"] is None
