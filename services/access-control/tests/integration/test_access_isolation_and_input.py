"""Org isolation on every route (another org's id → 404, never data) and bad input → 4xx with nothing written."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from access_helpers import connect_vendor, place_building, until
from aiokafka import AIOKafkaProducer
from hearth_kit.ids import new_id
from hearth_kit.testing import ServiceHarness


@pytest.fixture(scope="module")
async def owned(svc: ServiceHarness, sim: httpx.AsyncClient, sim_url: str,
                producer: AIOKafkaProducer) -> dict[str, Any]:
    """One org with a vendor, locks, a code, an attempt and a lockdown; others must not see any of it."""
    org = new_id("org")
    place = await place_building(svc, producer, org)
    env = await connect_vendor(svc, sim, sim_url, org, place=place)
    h = svc.headers(org_id=org)
    code = (await svc.client.post("/v1/access-codes", headers=h, json={
        "name": "Mine", "code": "5931", "unit_id": place["unit_ids"][0]})).json()["data"]
    attempt = (await svc.client.post(f"/v1/locks/{env['locks'][0]['id']}/unlock", headers=h)).json()["data"]
    lockdown = await svc.client.post(f"/v1/buildings/{place['building_id']}/lockdown", headers=h)
    assert lockdown.status_code == 202, lockdown.text
    return {"org": org, "place": place, "env": env, "code": code, "attempt": attempt,
            "lockdown": lockdown.json()["data"]}


async def test_other_orgs_get_404_and_empty_lists(svc: ServiceHarness, owned: dict[str, Any]) -> None:
    other = svc.headers(org_id=new_id("org"))
    lock_id = owned["env"]["locks"][0]["id"]
    vendor_id = owned["env"]["vendor"]["id"]
    listing_id = owned["env"]["listings"][0]["id"]
    building_id = owned["place"]["building_id"]
    code_id = owned["code"]["id"]
    for method, path, body in [
        ("GET", f"/v1/locks/{lock_id}", None), ("POST", f"/v1/locks/{lock_id}/lock", None),
        ("POST", f"/v1/locks/{lock_id}/unlock", None), ("GET", f"/v1/action-attempts/{owned['attempt']['id']}", None),
        ("GET", f"/v1/lock-vendors/{vendor_id}", None), ("GET", f"/v1/lock-vendors/{vendor_id}/listings", None),
        ("POST", f"/v1/lock-vendors/{vendor_id}/import", None),
        ("PUT", f"/v1/lock-vendors/{vendor_id}/listings/{listing_id}", {"building_id": building_id}),
        ("GET", f"/v1/access-codes/{code_id}", None),
        ("PUT", f"/v1/access-codes/{code_id}", {"name": "x", "schedule": {"manual": "activated"}}),
        ("DELETE", f"/v1/access-codes/{code_id}", None),
        ("GET", f"/v1/buildings/{building_id}/lockdown", None),
        ("POST", f"/v1/buildings/{building_id}/lockdown", None),
        ("POST", f"/v1/buildings/{building_id}/lockdown/lift", None),
    ]:
        resp = await svc.client.request(method, path, json=body, headers=other)
        assert resp.status_code in (404, 422), (method, path, resp.text)
        assert resp.headers["content-type"] == "application/problem+json"
        assert owned["org"] not in resp.text
    for path in ["/v1/locks", "/v1/action-attempts", "/v1/lock-events", "/v1/access-codes", "/v1/lock-vendors"]:
        resp = await svc.client.get(path, headers=other)
        assert resp.status_code == 200 and resp.json()["data"] == [] and resp.json()["meta"]["total"] == 0, path
    # the other org's code creation cannot target these locks
    resp = await svc.client.post("/v1/access-codes", headers=other, json={"name": "x", "lock_ids": [lock_id]})
    assert resp.status_code == 422
    # and nothing of theirs changed
    h = svc.headers(org_id=owned["org"])
    got = (await svc.client.get(f"/v1/access-codes/{code_id}", headers=h)).json()["data"]
    assert got["deleted"] is False


async def test_lockdown_remembers_and_restores(svc: ServiceHarness, sim: httpx.AsyncClient,
                                               owned: dict[str, Any]) -> None:
    h = svc.headers(org_id=owned["org"])
    building_id = owned["place"]["building_id"]
    lockdown = owned["lockdown"]
    assert lockdown["status"] == "active" and len(lockdown["locks"]) == 2
    again = await svc.client.post(f"/v1/buildings/{building_id}/lockdown", headers=h)
    assert again.status_code == 409

    async def all_done() -> Any:
        got = (await svc.client.get(f"/v1/buildings/{building_id}/lockdown", headers=h)).json()["data"]
        return got if all(a["status"] != "pending" for a in got["action_attempts"]) else None
    done = await until(all_done)
    assert {a["action"] for a in done["action_attempts"]} == {"lock"}
    lifted = (await svc.client.post(f"/v1/buildings/{building_id}/lockdown/lift", headers=h)).json()["data"]
    assert lifted["status"] == "lifted"
    unlocked_before = [r["lock_id"] for r in lockdown["locks"] if r["previous_state"] == "unlocked"]
    restores = [a for a in lifted["action_attempts"] if a["action"] == "unlock"]
    assert sorted(a["lock_id"] for a in restores) == sorted(unlocked_before)
    assert (await svc.client.post(f"/v1/buildings/{building_id}/lockdown/lift", headers=h)).status_code == 409


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/v1/access-codes", {"name": "x"}),  # neither unit nor locks
    ("POST", "/v1/access-codes", {"name": "x", "unit_id": "unit_1", "lock_ids": ["lock_1"]}),
    ("POST", "/v1/access-codes", {"name": "x\u0000y", "unit_id": "unit_1"}),
    ("POST", "/v1/access-codes", {"name": "x", "unit_id": "unit_1", "code": "12\u00004"}),
    ("POST", "/v1/access-codes", {"name": "x", "unit_id": "unit_1", "purpose": "burglar"}),
    ("POST", "/v1/access-codes", {"name": "x", "unit_id": "unit_1", "schedule": {"hours_per_day": {"start": 1e308,
                                                                                                     "end": 2}}}),
    ("POST", "/v1/access-codes", {"name": "x", "unit_id": "unit_1", "extra": 1}),
    ("POST", "/v1/access-codes", {"name": "x", "lock_ids": []}),
    ("POST", "/v1/access-codes", {"name": "x", "unit_id": "../../etc"}),
    ("POST", "/v1/lock-vendors", {"name": "v", "base_url": "ftp://x", "permanent_token": "abcdefgh"}),
    ("POST", "/v1/lock-vendors", {"name": "v", "base_url": "http://x.test", "permanent_token": "short"}),
    ("GET", "/v1/locks?battery_below=99999999999999999999", None),
    ("GET", "/v1/locks?state=open", None),
    ("GET", "/v1/lock-events?since=yesterday", None),
    ("GET", "/v1/lock-events?until=9999-12-31T23:59:00-14:00", None),
    ("POST", "/v1/lock-vendors", {"name": "v", "base_url": "http://[", "permanent_token": "abcdefgh"}),
    ("GET", "/v1/action-attempts/act_1?wait=31", None),
    ("GET", "/v1/locks/lock_%00", None),
    ("GET", "/v1/locks?limit=1000", None),
])
async def test_bad_input_is_a_problem_and_writes_nothing(svc: ServiceHarness, method: str, path: str,
                                                         body: Any) -> None:
    org = new_id("org")
    resp = await svc.client.request(method, path, json=body, headers=svc.headers(org_id=org))
    assert 400 <= resp.status_code < 500 and resp.status_code != 404, (path, body, resp.status_code, resp.text)
    assert resp.headers["content-type"] == "application/problem+json"
    async with svc.raw(org_id=org) as conn:
        for table in ("access_codes", "vendors", "action_attempts"):
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0


async def test_unknown_ids_are_clear_problems(svc: ServiceHarness) -> None:
    h = svc.headers(org_id=new_id("org"))
    assert (await svc.client.post(f"/v1/locks/{new_id('lock')}/unlock", headers=h)).status_code == 404
    resp = await svc.client.post("/v1/access-codes", headers=h, json={"name": "x", "unit_id": new_id("unit")})
    assert resp.status_code == 422 and resp.json()["type"].endswith("unknown-unit")
    resp = await svc.client.post("/v1/access-codes", headers=h, json={"name": "x", "lock_ids": [new_id("lock")]})
    assert resp.status_code == 422 and resp.json()["type"].endswith("unknown-lock")


async def test_read_only_roles_cannot_command(svc: ServiceHarness, owned: dict[str, Any]) -> None:
    partner = svc.headers(org_id=owned["org"], role="partner")
    lock_id = owned["env"]["locks"][0]["id"]
    assert (await svc.client.post(f"/v1/locks/{lock_id}/unlock", headers=partner)).status_code == 403
    assert (await svc.client.get(f"/v1/locks/{lock_id}", headers=partner)).status_code == 200


async def test_a_vendor_that_is_down_degrades_readyz(svc: ServiceHarness) -> None:
    org = new_id("org")
    h = svc.headers(org_id=org)
    resp = await svc.client.post("/v1/lock-vendors", headers=h, json={
        "name": "Down", "base_url": "http://127.0.0.1:9", "permanent_token": "abcdefgh12"})
    assert resp.status_code == 201 and resp.json()["data"]["status"] == "degraded"
    ready = await svc.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "degraded"
    async with svc.raw(org_id=org) as conn:
        await conn.execute("DELETE FROM vendors")
    assert (await svc.client.get("/readyz")).json()["status"] in ("ready", "degraded")
