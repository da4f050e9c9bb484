"""Access control through the gateway: a vendor from the simulator, unlock with an attempt, a code used on a
keypad, isolation between orgs, building lockdown."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from conftest import bearer, new_org

pytestmark = pytest.mark.e2e


def simulator(demo: dict[str, Any]) -> str:
    sims = demo.get("simulators") or {}
    if "lock-vendor" not in sims:
        pytest.fail("the platform runs no lock-vendor simulator (deploy/platform.toml [simulators.lock-vendor])")
    return str(sims["lock-vendor"])


async def eventually(check: Any, timeout: float = 30) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        got = await check()
        if got or asyncio.get_running_loop().time() > deadline:
            return got
        await asyncio.sleep(0.2)


async def setup_access(gw: httpx.AsyncClient, demo: dict[str, Any]) -> dict[str, Any]:
    org = await new_org(gw, demo)
    h = bearer(org["key"])
    building = (await gw.post("/v1/buildings", headers=h, json={
        "name": "Harbor House", "type": "residential", "timezone": "America/New_York",
        "address": {"line1": "1 Harbor St", "city": "Boston", "country": "US"}})).json()["data"]
    unit = (await gw.post("/v1/units", headers=h, json={
        "building_id": building["id"], "name": "Unit 1", "price": {"amount": "2000.00", "currency": "USD"}})).json()
    unit = unit["data"]
    sim_url = simulator(demo)
    door, entrance = str(uuid.uuid4()), str(uuid.uuid4())
    account = f"e2e-{uuid.uuid4().hex}"
    async with httpx.AsyncClient(base_url=sim_url) as sim:
        resp = await sim.put(f"/_sim/accounts/{account}", json={
            "locks": [{"lock_id": door, "name": "Unit 1 door"}, {"lock_id": entrance, "name": "Entrance"}],
            "listings": [{"listing_id": f"{account}-u", "name": "Unit 1", "code_length": 4, "timezone": "US/Eastern",
                          "linked_locks": [door]},
                         {"listing_id": f"{account}-b", "name": "Common", "code_length": 4,
                          "timezone": "US/Eastern", "linked_locks": [entrance]}]})
        token = resp.json()["permanent_token"]
    vendor = await gw.post("/v1/lock-vendors", headers=h, json={"name": "Aurmur", "base_url": sim_url,
                                                                "permanent_token": token})
    assert vendor.status_code == 201, vendor.text
    vendor_id = vendor.json()["data"]["id"]
    listings = (await gw.get(f"/v1/lock-vendors/{vendor_id}/listings", headers=h)).json()["data"]
    for li in listings:
        target = {"building_id": building["id"], "unit_id": unit["id"] if li["name"] == "Unit 1" else None}

        async def mapped(li: dict[str, Any] = li, target: dict[str, Any] = target) -> bool:
            resp = await gw.put(f"/v1/lock-vendors/{vendor_id}/listings/{li['id']}", headers=h, json=target)
            return resp.status_code == 200
        assert await eventually(mapped), "listing never mapped (building/unit not projected?)"
    locks = (await gw.get("/v1/locks", headers=h)).json()["data"]
    return {"org": org, "h": h, "building": building, "unit": unit, "locks": locks, "account": account,
            "sim_url": sim_url, "door": door}


async def test_unlock_code_and_isolation(gw: httpx.AsyncClient, demo: dict[str, Any]) -> None:
    env = await setup_access(gw, demo)
    h = env["h"]
    door = next(lk for lk in env["locks"] if lk["unit_id"] == env["unit"]["id"])
    resp = await gw.post(f"/v1/locks/{door['id']}/unlock", headers=h)
    assert resp.status_code == 202, resp.text
    attempt = resp.json()["data"]
    done = (await gw.get(f"/v1/action-attempts/{attempt['id']}", params={"wait": 10}, headers=h)).json()["data"]
    assert done["status"] == "success", done

    code = await gw.post("/v1/access-codes", headers=h, json={"name": "Guest", "code": "5931",
                                                              "unit_id": env["unit"]["id"]})
    assert code.status_code == 201, code.text
    code_id = code.json()["data"]["id"]

    async def activated() -> bool:
        got = (await gw.get(f"/v1/access-codes/{code_id}", headers=h)).json()["data"]
        return bool(got["status"] == "activated")
    assert await eventually(activated)
    async with httpx.AsyncClient(base_url=env["sim_url"]) as sim:
        used = await sim.post(f"/_sim/accounts/{env['account']}/keypad", json={"lock_id": env["door"], "code": "5931"})
        assert used.json()["accepted"] is True

    async def keypad_event() -> bool:
        events = (await gw.get("/v1/lock-events", headers=h, params={"lock_id": door["id"], "type": "unlocked"}))
        return any(e["access_code_id"] == code_id for e in events.json()["data"])
    assert await eventually(keypad_event)

    other = bearer((await new_org(gw, demo))["key"])
    assert (await gw.get(f"/v1/locks/{door['id']}", headers=other)).status_code == 404
    assert (await gw.get(f"/v1/access-codes/{code_id}", headers=other)).status_code == 404
    assert (await gw.post(f"/v1/locks/{door['id']}/unlock", headers=other)).status_code == 404
    assert (await gw.get("/v1/locks", headers=other)).json()["meta"]["total"] == 0
    bad = await gw.post("/v1/access-codes", headers=h, json={"name": "x", "code": "1111",
                                                             "unit_id": env["unit"]["id"]})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")


async def test_building_lockdown_through_the_wildcard_route(gw: httpx.AsyncClient, demo: dict[str, Any]) -> None:
    env = await setup_access(gw, demo)
    h = env["h"]
    resp = await gw.post(f"/v1/buildings/{env['building']['id']}/lockdown", headers=h)
    if resp.status_code in (404, 405) and resp.json().get("detail") in ("Not Found", "Method Not Allowed"):
        pytest.skip("this gateway does not route /v1/buildings/*/lockdown yet (wildcard routes)")
    assert resp.status_code == 202, resp.text
    lockdown = resp.json()["data"]
    assert len(lockdown["action_attempts"]) == 2

    async def locked() -> bool:
        got = (await gw.get(f"/v1/buildings/{env['building']['id']}/lockdown", headers=h)).json()["data"]
        return all(a["status"] == "success" for a in got["action_attempts"])
    assert await eventually(locked)
    lifted = await gw.post(f"/v1/buildings/{env['building']['id']}/lockdown/lift", headers=h)
    assert lifted.status_code == 202 and lifted.json()["data"]["status"] == "lifted"
