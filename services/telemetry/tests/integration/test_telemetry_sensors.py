"""Sensors: registration checked against the property projection, list filters, update, retire."""

from __future__ import annotations

from hearth_kit.ids import new_id
from hearth_kit.testing import Infra, ServiceHarness
from telemetry_helpers import building, ok, sensor, unit


async def test_register_get_list_update_retire(tele: ServiceHarness, infra: Infra, org_id: str) -> None:
    bid = await building(infra, org_id)
    uid = await unit(infra, org_id, bid)
    made = await sensor(tele, infra, org_id, kind="humidity", building_id=bid, unit_id=uid, external_id="dev-1")
    assert made["id"].startswith("sen_") and made["unit_of_measure"] == "percent"
    assert made["online"] is False and made["last_reading"] is None and made["status"] == "active"
    h = tele.headers(org_id=org_id)
    got = await ok(await tele.client.get(f"/v1/sensors/{made['id']}", headers=h))
    assert got["external_id"] == "dev-1" and got["unit_id"] == uid
    other = await sensor(tele, infra, org_id, kind="co2", building_id=bid, name="Lobby CO2")
    listed = (await tele.client.get("/v1/sensors", params={"kind": "co2"}, headers=h)).json()
    assert [s["id"] for s in listed["data"]] == [other["id"]] and listed["meta"]["total"] == 1
    assert (await tele.client.get("/v1/sensors", params={"q": "lobby"}, headers=h)).json()["meta"]["total"] == 1
    assert (await tele.client.get("/v1/sensors", params={"unit_id": uid}, headers=h)).json()["meta"]["total"] == 1
    assert (await tele.client.get("/v1/sensors", params={"online": "true"}, headers=h)).json()["meta"]["total"] == 0
    patched = await ok(await tele.client.patch(f"/v1/sensors/{made['id']}", json={"name": "Bath"}, headers=h))
    assert patched["name"] == "Bath"
    assert (await tele.client.delete(f"/v1/sensors/{made['id']}", headers=h)).status_code == 204
    got = await ok(await tele.client.get(f"/v1/sensors/{made['id']}", headers=h))
    assert got["status"] == "retired"


async def test_unknown_or_deleted_building_and_foreign_unit_are_422(tele: ServiceHarness, infra: Infra,
                                                                    org_id: str) -> None:
    h = tele.headers(org_id=org_id)
    gone = await building(infra, org_id, deleted=True)
    bid = await building(infra, org_id)
    elsewhere = await unit(infra, org_id, await building(infra, org_id))
    for body in ({"building_id": new_id("bld")}, {"building_id": gone}, {"building_id": bid, "unit_id": elsewhere}):
        resp = await tele.client.post("/v1/sensors", json={**body, "kind": "smoke", "name": "x"}, headers=h)
        assert resp.status_code == 422, resp.text
        assert resp.headers["content-type"].startswith("application/problem+json")
    assert (await tele.client.get("/v1/sensors", headers=h)).json()["meta"]["total"] == 0


async def test_bad_input_is_4xx_and_writes_nothing(tele: ServiceHarness, infra: Infra, org_id: str) -> None:
    h = tele.headers(org_id=org_id)
    bid = await building(infra, org_id)
    bad = [
        {"building_id": bid, "kind": "lava", "name": "x"},
        {"building_id": bid, "kind": "smoke", "name": ""},
        {"building_id": bid, "kind": "smoke", "name": "a\x00b"},
        {"building_id": "bld_x", "kind": "smoke", "name": "x"},
        {"building_id": bid, "kind": "smoke", "name": "x", "offline_after_seconds": 10**12},
        {"building_id": bid, "kind": "smoke", "name": "x", "extra": 1},
    ]
    for body in bad:
        resp = await tele.client.post("/v1/sensors", json=body, headers=h)
        assert resp.status_code == 422, (body, resp.text)
    made = await sensor(tele, infra, org_id, building_id=bid, external_id="same")
    resp = await tele.client.post("/v1/sensors", json={"building_id": bid, "kind": "smoke", "name": "y",
                                                       "external_id": "same"}, headers=h)
    assert resp.status_code == 409
    resp = await tele.client.get("/v1/sensors/not-an-id", headers=h)
    assert resp.status_code == 422
    assert (await tele.client.get("/v1/sensors", headers=h)).json()["meta"]["total"] == 1
    ro = tele.headers(org_id=org_id, role="partner")
    assert (await tele.client.patch(f"/v1/sensors/{made['id']}", json={"name": "z"}, headers=ro)).status_code == 403


async def test_another_orgs_sensor_is_404_everywhere(tele: ServiceHarness, infra: Infra, org_id: str) -> None:
    theirs = await sensor(tele, infra, new_id("org"))
    h = tele.headers(org_id=org_id)
    sid = theirs["id"]
    for method, path, body in (
        ("GET", f"/v1/sensors/{sid}", None), ("PATCH", f"/v1/sensors/{sid}", {"name": "mine"}),
        ("DELETE", f"/v1/sensors/{sid}", None), ("GET", f"/v1/sensors/{sid}/readings", None),
    ):
        resp = await tele.client.request(method, path, json=body, headers=h)
        assert resp.status_code == 404, (method, path, resp.text)
    assert (await tele.client.get("/v1/sensors", headers=h)).json()["meta"]["total"] == 0
    # their building is not ours to register sensors in either
    resp = await tele.client.post("/v1/sensors", json={"building_id": theirs["building_id"], "kind": "co2",
                                                       "name": "x"}, headers=h)
    assert resp.status_code == 422
