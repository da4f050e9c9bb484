"""Units end to end: filters, sorting, expand, CRUD rules, bulk operations, visibility."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hearth_kit.testing import ServiceHarness
from property_helpers import building_body, mk_agent, mk_building, mk_unit, ok, unit_body

pytestmark = pytest.mark.integration


async def ids(h: ServiceHarness, org: str, query: str, role: str = "admin") -> list[str]:
    resp = await h.client.get(f"/v1/units?limit=100&{query}", headers=h.headers(org_id=org, role=role))
    assert resp.status_code == 200, resp.text
    return [u["id"] for u in resp.json()["data"]]


async def test_create_get_money_alias_and_expand(prop: ServiceHarness, org_id: str) -> None:
    b = await mk_building(prop, org_id)
    agent = await mk_agent(prop, org_id)
    body = {"property_id": b["id"], "name": "Villa A", "unit_number": "A-101", "type": "3BR Villa",
            "bedrooms": 3, "bathrooms": 2.5, "size": {"interior": 250, "land": 400, "unit": "sqm"},
            "price": {"amount": 850000, "currency": "usd"}, "features": ["private_pool", "garden"],
            "floor_plan": "https://cdn.example/fp.pdf", "gallery": ["https://cdn.example/1.jpg"],
            "visibility": "public", "assigned_agent": agent["id"]}
    unit = await ok(await prop.client.post("/v1/units", json=body, headers=prop.headers(org_id=org_id)), 201)
    assert unit["id"].startswith("unit_")
    assert unit["building_id"] == unit["property_id"] == b["id"]
    assert unit["price"] == {"amount": "850000.00", "currency": "USD"}
    assert unit["bathrooms"] == "2.5"
    assert unit["size"] == {"interior": "250", "land": "400", "unit": "sqm"}
    assert unit["features"] == ["private_pool", "garden"]
    got = await ok(await prop.client.get(f"/v1/units/{unit['id']}?expand=building,agent",
                                         headers=prop.headers(org_id=org_id)))
    assert got["building"]["id"] == b["id"] and got["building"]["units"] == 1
    assert got["agent"] == {**agent}
    plain = await ok(await prop.client.get(f"/v1/units/{unit['id']}", headers=prop.headers(org_id=org_id)))
    assert "building" not in plain and "agent" not in plain
    alias = await ok(await prop.client.get(f"/v1/units/{unit['id']}?expand=property",
                                           headers=prop.headers(org_id=org_id)))
    assert alias["building"]["id"] == b["id"]
    bad = await prop.client.get(f"/v1/units/{unit['id']}?expand=owner", headers=prop.headers(org_id=org_id))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "expand"


@pytest.fixture(scope="module")
async def catalogue(prop: ServiceHarness) -> dict[str, Any]:
    """One org with a spread of units to filter and sort."""
    from hearth_kit.ids import new_id

    org = new_id("org")
    b1 = await mk_building(prop, org, name="One")
    b2 = await mk_building(prop, org, name="Two")
    agent = await mk_agent(prop, org)
    spec = {
        "u1": {"building_id": b1["id"], "unit_number": "101", "status": "available", "bedrooms": 1, "price": "100000",
                   "size": {"interior": 50}, "visibility": "public"},
        "u2": {"building_id": b1["id"], "unit_number": "102", "status": "available", "bedrooms": 3, "price": "300000",
                   "size": {"interior": 120}, "visibility": "agents", "assigned_agent": agent["id"]},
        "u3": {"building_id": b1["id"], "unit_number": "103", "status": "reserved", "bedrooms": 3, "price": "250000",
                   "size": {"interior": 1000, "unit": "sqft"}, "visibility": "team"},  # 92.9 sqm
        "u4": {"building_id": b2["id"], "unit_number": "201", "status": "sold", "bedrooms": 2, "price": "500000",
                   "size": None, "visibility": "private", "assigned_agent": agent["id"]},
        "u5": {"building_id": b2["id"], "unit_number": "202", "status": "off_market", "bedrooms": 4,
               "price": "750000.50", "size": {"interior": 200}, "visibility": "public"},
    }
    units: dict[str, str] = {}
    for key, s in spec.items():
        body: dict[str, Any] = {k: v for k, v in s.items() if k != "price"}
        body["price"] = {"amount": s["price"], "currency": "USD"}
        unit = await mk_unit(prop, org, name=key, **body)
        units[key] = unit["id"]
    return {"org": org, "b1": b1["id"], "b2": b2["id"], "agent": agent["id"], "u": units}


async def test_each_filter(prop: ServiceHarness, catalogue: dict[str, Any]) -> None:
    org, u = catalogue["org"], catalogue["u"]

    async def names(q: str) -> set[str]:
        return {k for k, v in u.items() if v in await ids(prop, org, q)}

    assert await names("") == {"u1", "u2", "u3", "u4", "u5"}
    assert await names(f"building_id={catalogue['b1']}") == {"u1", "u2", "u3"}
    assert await names(f"property_id={catalogue['b2']}") == {"u4", "u5"}
    assert await names("status=available") == {"u1", "u2"}
    assert await names("min_price=250000") == {"u2", "u3", "u4", "u5"}
    assert await names("max_price=250000") == {"u1", "u3"}
    assert await names("min_price=250000&max_price=500000") == {"u2", "u3", "u4"}
    assert await names("bedrooms=3") == {"u2", "u3"}
    assert await names("min_size=90") == {"u2", "u3", "u5"}  # 1000 sqft = 92.9 sqm counts
    assert await names("visibility=public") == {"u1", "u5"}
    assert await names(f"agent_id={catalogue['agent']}") == {"u2", "u4"}
    assert await names("status=available&bedrooms=3&min_price=1") == {"u2"}
    in_path = await prop.client.get(f"/v1/buildings/{catalogue['b1']}/units?status=reserved",
                                    headers=prop.headers(org_id=org))
    assert [x["id"] for x in in_path.json()["data"]] == [u["u3"]]
    page = (await prop.client.get("/v1/units?limit=2&page=2&sort=price", headers=prop.headers(org_id=org))).json()
    assert page["meta"] == {"total": 5, "page": 2, "limit": 2}
    assert [x["id"] for x in page["data"]] == [u["u2"], u["u4"]]


@pytest.mark.parametrize(
    ("sort", "order"),
    [("price", ["u1", "u3", "u2", "u4", "u5"]), ("-price", ["u5", "u4", "u2", "u3", "u1"]),
     ("bedrooms", ["u1", "u4", None, None, "u5"]), ("size", ["u1", "u3", "u2", "u5", "u4"]),
     ("unit_number", ["u1", "u2", "u3", "u4", "u5"]), ("created_at", ["u1", "u2", "u3", "u4", "u5"]),
     ("-created_at", ["u5", "u4", "u3", "u2", "u1"])],
)
async def test_each_sort(prop: ServiceHarness, catalogue: dict[str, Any], sort: str, order: list[str | None]) -> None:
    got = await ids(prop, catalogue["org"], f"sort={sort}")
    for position, key in enumerate(order):
        if key is not None:  # ties (u2/u3 both 3 bedrooms) break by id
            assert got[position] == catalogue["u"][key], (sort, position)


async def test_bad_list_queries(prop: ServiceHarness, catalogue: dict[str, Any]) -> None:
    h = prop.headers(org_id=catalogue["org"])
    bad_sort = await prop.client.get("/v1/units?sort=name", headers=h)
    assert bad_sort.status_code == 422
    assert "-price" in bad_sort.json()["errors"][0]["allowed"]
    bad_range = await prop.client.get("/v1/units?min_price=10&max_price=5", headers=h)
    assert bad_range.status_code == 400 and bad_range.headers["content-type"] == "application/problem+json"
    bad_enum = await prop.client.get("/v1/units?status=demolished", headers=h)
    assert bad_enum.status_code == 422
    [err] = bad_enum.json()["errors"]
    assert err["field"] == "query.status"
    assert set(err["allowed"]) == {"available", "reserved", "sold", "off_market", "rented"}
    bad_num = await prop.client.get("/v1/units?bedrooms=many", headers=h)
    assert bad_num.status_code == 422
    missing = await prop.client.get("/v1/buildings/bld_nope/units", headers=h)
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("role", "visible"),
    [("admin", {"u1", "u2", "u3", "u4", "u5"}), ("manager", {"u1", "u2", "u3", "u4", "u5"}),
     ("leasing_agent", {"u1", "u2", "u3", "u5"}), ("technician", {"u1", "u2", "u3", "u5"}),
     ("accountant", {"u1", "u2", "u3", "u5"}), ("partner", {"u1", "u5"})],
)
async def test_visibility_per_role(prop: ServiceHarness, catalogue: dict[str, Any], role: str,
                                   visible: set[str]) -> None:
    org, u = catalogue["org"], catalogue["u"]
    assert {k for k, v in u.items() if v in await ids(prop, org, "", role=role)} == visible
    for key, unit_id in u.items():
        resp = await prop.client.get(f"/v1/units/{unit_id}", headers=prop.headers(org_id=org, role=role))
        assert resp.status_code == (200 if key in visible else 404), (role, key)


async def test_partner_is_read_only(prop: ServiceHarness, catalogue: dict[str, Any]) -> None:
    """Every write is refused with 403 by the access check itself: the bodies are valid, so a 422 (or a
    201) here would mean the check did not run."""
    org = catalogue["org"]
    h = prop.headers(org_id=org, role="partner")
    b1, u1 = catalogue["b1"], catalogue["u"]["u1"]
    attempts = [
        prop.client.post("/v1/units", json=unit_body(b1), headers=h),
        prop.client.patch(f"/v1/units/{u1}", json={"name": "x"}, headers=h),
        prop.client.put(f"/v1/units/{u1}", json=unit_body(b1), headers=h),
        prop.client.delete(f"/v1/units/{u1}", headers=h),
        prop.client.post("/v1/units/bulk", json={"units": [unit_body(b1)]}, headers=h),
        prop.client.patch("/v1/units/bulk/status", json={"unit_ids": [u1], "status": "sold"}, headers=h),
        prop.client.post("/v1/buildings", json=building_body(), headers=h),
        prop.client.patch(f"/v1/buildings/{b1}", json={"name": "x"}, headers=h),
        prop.client.post("/v1/agents", json={"name": "x"}, headers=h),
        prop.client.post("/v1/residents", json={"name": "x"}, headers=h),
    ]
    admin = prop.headers(org_id=org)
    before = (await prop.client.get("/v1/units?limit=100", headers=admin)).json()
    for attempt in attempts:
        resp = await attempt
        assert resp.status_code == 403, resp.text
        assert resp.json()["type"].endswith("/forbidden")
    assert (await prop.client.get("/v1/units?limit=100", headers=admin)).json() == before


async def test_unit_number_unique_per_building(prop: ServiceHarness, org_id: str) -> None:
    b1, b2 = await mk_building(prop, org_id), await mk_building(prop, org_id)
    first = await mk_unit(prop, org_id, b1["id"], unit_number="A-1")
    dup = await prop.client.post("/v1/units", json=unit_body(b1["id"], unit_number="A-1"),
                                 headers=prop.headers(org_id=org_id))
    assert dup.status_code == 409 and dup.json()["errors"][0]["field"] == "unit_number"
    await mk_unit(prop, org_id, b2["id"], unit_number="A-1")  # another building: fine
    other = await mk_unit(prop, org_id, b1["id"], unit_number="A-2")
    clash = await prop.client.patch(f"/v1/units/{other['id']}", json={"unit_number": "A-1"},
                                    headers=prop.headers(org_id=org_id))
    assert clash.status_code == 409
    same = await prop.client.patch(f"/v1/units/{first['id']}", json={"unit_number": "A-1", "name": "Renamed"},
                                   headers=prop.headers(org_id=org_id))
    assert same.status_code == 200


async def test_put_replaces_and_patch_changes_only_what_is_sent(prop: ServiceHarness, org_id: str) -> None:
    b = await mk_building(prop, org_id)
    agent = await mk_agent(prop, org_id)
    unit = await mk_unit(prop, org_id, b["id"], bedrooms=2, features=["garden"], assigned_agent=agent["id"])
    h = prop.headers(org_id=org_id)
    patched = await ok(await prop.client.patch(f"/v1/units/{unit['id']}",
                                               json={"status": "reserved", "price": {"amount": "825000",
                                                                                     "currency": "USD"}},
                                               headers=h))
    assert (patched["status"], patched["price"]["amount"], patched["bedrooms"]) == ("reserved", "825000.00", 2)
    assert patched["assigned_agent"] == agent["id"] and patched["features"] == ["garden"]
    cleared = await ok(await prop.client.patch(f"/v1/units/{unit['id']}", json={"assigned_agent": None},
                                               headers=h))
    assert cleared["assigned_agent"] is None
    replaced = await ok(await prop.client.put(f"/v1/units/{unit['id']}",
                                              json={"name": "New", "price": {"amount": 1, "currency": "EUR"}},
                                              headers=h))
    assert (replaced["name"], replaced["bedrooms"], replaced["features"], replaced["status"]) == \
        ("New", None, [], "available")
    other = await mk_building(prop, org_id)
    move = await prop.client.put(f"/v1/units/{unit['id']}", json={**unit_body(other["id"])}, headers=h)
    assert move.status_code == 422
    null_name = await prop.client.patch(f"/v1/units/{unit['id']}", json={"name": None}, headers=h)
    assert null_name.status_code == 422
    unknown_agent = await prop.client.patch(f"/v1/units/{unit['id']}", json={"assigned_agent": "agt_nope"},
                                            headers=h)
    assert unknown_agent.status_code == 404
    assert unknown_agent.json()["errors"][0]["field"] == "assigned_agent"


async def test_create_refuses_unknown_agent_and_building(prop: ServiceHarness, org_id: str) -> None:
    b = await mk_building(prop, org_id)
    h = prop.headers(org_id=org_id)
    resp = await prop.client.post("/v1/units", json=unit_body(b["id"], assigned_agent="agt_nope"), headers=h)
    assert resp.status_code == 404 and resp.json()["errors"][0]["field"] == "assigned_agent"
    resp = await prop.client.post("/v1/units", json=unit_body("bld_nope"), headers=h)
    assert resp.status_code == 404 and resp.json()["errors"][0]["field"] == "building_id"
    resp = await prop.client.post("/v1/units", json=unit_body(b["id"], visibility="secret"), headers=h)
    assert resp.status_code == 422
    assert set(resp.json()["errors"][0]["allowed"]) == {"public", "agents", "team", "private"}
    resp = await prop.client.post("/v1/units", json=unit_body(b["id"], price={"amount": 1.234, "currency": "USD"}),
                                  headers=h)
    assert resp.status_code == 422
    async with prop.raw(org_id=org_id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM units") == 0


async def test_delete_unit_and_building_rules(prop: ServiceHarness, org_id: str) -> None:
    b = await mk_building(prop, org_id)
    unit = await mk_unit(prop, org_id, b["id"])
    h = prop.headers(org_id=org_id)
    refused = await prop.client.delete(f"/v1/buildings/{b['id']}", headers=h)
    assert refused.status_code == 409 and refused.json()["units"] == 1
    assert (await prop.client.delete(f"/v1/units/{unit['id']}", headers=h)).status_code == 204
    assert (await prop.client.get(f"/v1/units/{unit['id']}", headers=h)).status_code == 404
    assert (await prop.client.delete(f"/v1/units/{unit['id']}", headers=h)).status_code == 404
    assert (await prop.client.delete(f"/v1/buildings/{b['id']}", headers=h)).status_code == 204
    assert (await prop.client.get(f"/v1/buildings/{b['id']}", headers=h)).status_code == 404


async def test_bulk_create_500_fast_all_or_nothing(prop: ServiceHarness, org_id: str) -> None:
    b = await mk_building(prop, org_id)
    h = prop.headers(org_id=org_id)
    units = [unit_body(b["id"], name=f"U{i}", unit_number=f"N{i:03d}", bedrooms=i % 4,
                       price={"amount": f"{1000 + i}.50", "currency": "USD"}, features=["a", "b"][: i % 3])
             for i in range(500)]
    started = time.perf_counter()
    resp = await prop.client.post("/v1/units/bulk", json={"units": units}, headers=h)
    elapsed = time.perf_counter() - started
    assert resp.status_code == 201, resp.text
    created = resp.json()["data"]
    assert [u["unit_number"] for u in created] == [f"N{i:03d}" for i in range(500)]
    assert created[7]["price"]["amount"] == "1007.50" and created[5]["features"] == ["a", "b"]
    assert elapsed < 3, f"bulk create of 500 took {elapsed:.2f}s"
    async with prop.raw(org_id=org_id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM units") == 500
        assert await conn.fetchval("SELECT count(*) FROM units WHERE features = '{a,b}'") > 100
    b_view = await ok(await prop.client.get(f"/v1/buildings/{b['id']}", headers=h))
    assert b_view["units"] == 500
    too_many = await prop.client.post("/v1/units/bulk", json={"units": units + units[:1]}, headers=h)
    assert too_many.status_code == 422


async def test_bulk_create_reports_errors_per_index_and_writes_nothing(prop: ServiceHarness, org_id: str) -> None:
    b = await mk_building(prop, org_id)
    h = prop.headers(org_id=org_id)
    units = [unit_body(b["id"], name="ok"), unit_body(b["id"], status="gone"), {"name": "no building"},
             unit_body(b["id"], name="ok2")]
    resp = await prop.client.post("/v1/units/bulk", json={"units": units}, headers=h)
    assert resp.status_code == 422
    errors = resp.json()["errors"]
    assert {(e["index"], e["field"]) for e in errors} >= {(1, "status"), (2, "building_id"), (2, "price")}
    assert next(e for e in errors if e["field"] == "status")["allowed"][0] == "available"
    refs = [unit_body(b["id"]), unit_body("bld_nope"), unit_body(b["id"], assigned_agent="agt_nope")]
    resp = await prop.client.post("/v1/units/bulk", json={"units": refs}, headers=h)
    assert resp.status_code == 422
    assert {(e["index"], e["field"]) for e in resp.json()["errors"]} == {(1, "building_id"), (2, "assigned_agent")}
    await mk_unit(prop, org_id, b["id"], unit_number="X1")
    dups = [unit_body(b["id"], unit_number="X1"), unit_body(b["id"], unit_number="Y"),
            unit_body(b["id"], unit_number="Y")]
    resp = await prop.client.post("/v1/units/bulk", json={"units": dups}, headers=h)
    assert resp.status_code == 409
    assert [e["index"] for e in resp.json()["errors"]] == [0, 2]
    async with prop.raw(org_id=org_id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM units") == 1
        assert await conn.fetchval(  # this org's unit events only: the outbox is shared by the module's tests
            "SELECT count(*) FROM outbox WHERE key LIKE 'unit_%' AND position(convert_to($1, 'UTF8') in payload) > 0",
            org_id) <= 1


async def test_bulk_status(prop: ServiceHarness, org_id: str) -> None:
    b = await mk_building(prop, org_id)
    h = prop.headers(org_id=org_id)
    created = (await prop.client.post("/v1/units/bulk", json={"units": [unit_body(b["id"]) for _ in range(5)]},
                                      headers=h)).json()["data"]
    unit_ids = [u["id"] for u in created]
    await prop.client.patch(f"/v1/units/{unit_ids[0]}", json={"status": "off_market"}, headers=h)
    resp = await prop.client.patch("/v1/units/bulk/status", json={"unit_ids": unit_ids, "status": "off_market"},
                                   headers=h)
    assert (await ok(resp))["updated"] == 4
    assert set(await ids(prop, org_id, "status=off_market")) == set(unit_ids)
    unknown = await prop.client.patch("/v1/units/bulk/status",
                                      json={"unit_ids": [*unit_ids, "unit_nope1", "unit_nope2"], "status": "sold"},
                                      headers=h)
    assert unknown.status_code == 404
    assert unknown.json()["unknown_ids"] == ["unit_nope1", "unit_nope2"]
    assert await ids(prop, org_id, "status=sold") == []
    too_many = await prop.client.patch("/v1/units/bulk/status",
                                       json={"unit_ids": [f"unit_{i}" for i in range(1001)], "status": "sold"},
                                       headers=h)
    assert too_many.status_code == 422
    bad = await prop.client.patch("/v1/units/bulk/status", json={"unit_ids": unit_ids, "status": "x"}, headers=h)
    assert bad.status_code == 422 and "sold" in bad.json()["errors"][0]["allowed"]


async def test_unit_idempotency_key(prop: ServiceHarness, org_id: str) -> None:
    b = await mk_building(prop, org_id)
    h = {**prop.headers(org_id=org_id), "Idempotency-Key": "unit-1"}
    first = await prop.client.post("/v1/units", json=unit_body(b["id"]), headers=h)
    again = await prop.client.post("/v1/units", json=unit_body(b["id"]), headers=h)
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    other = await prop.client.post("/v1/units", json=unit_body(b["id"], name="Other"), headers=h)
    assert other.status_code == 422
    bulk_h = {**prop.headers(org_id=org_id), "Idempotency-Key": "bulk-1"}
    one = await prop.client.post("/v1/units/bulk", json={"units": [unit_body(b["id"])]}, headers=bulk_h)
    two = await prop.client.post("/v1/units/bulk", json={"units": [unit_body(b["id"])]}, headers=bulk_h)
    assert one.json() == two.json()
    async with prop.raw(org_id=org_id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM units") == 2


async def test_buildings_filters_update_and_occupancy(prop: ServiceHarness, org_id: str) -> None:
    h = prop.headers(org_id=org_id)
    res = await mk_building(prop, org_id, name="Marina Tower A")
    com = await mk_building(prop, org_id, name="Business 100%", type="commercial", status="maintenance")

    async def names(q: str) -> set[str]:
        body = (await prop.client.get(f"/v1/buildings?{q}", headers=h)).json()
        return {b["name"] for b in body["data"]}

    assert await names("type=commercial") == {"Business 100%"}
    assert await names("q=marina") == {"Marina Tower A"}
    assert await names("q=100%25") == {"Business 100%"}
    assert await names("q=%25") == {"Business 100%"}  # a literal %, not a wildcard
    assert await names("status=maintenance&type=commercial") == {"Business 100%"}
    assert (await prop.client.get("/v1/buildings?type=castle", headers=h)).status_code == 422
    for i in range(4):
        await mk_unit(prop, org_id, res["id"], status="rented" if i < 3 else "available")
    got = await ok(await prop.client.get(f"/v1/buildings/{res['id']}", headers=h))
    assert (got["units"], got["occupied_units"], got["occupancy"]) == (4, 3, 0.75)
    patched = await ok(await prop.client.patch(f"/v1/buildings/{com['id']}", json={"status": "active"}, headers=h))
    assert patched["status"] == "active" and patched["name"] == "Business 100%"
    bad_tz = await prop.client.patch(f"/v1/buildings/{com['id']}", json={"timezone": "Mars/Base"}, headers=h)
    assert bad_tz.status_code == 422 and bad_tz.json()["errors"][0]["field"] == "timezone"
    put = await ok(await prop.client.put(f"/v1/buildings/{com['id']}",
                                         json={"name": "Renamed", "type": "mixed", "timezone": "Europe/Berlin",
                                               "address": {"line1": "x", "city": "y", "country": "fr"}},
                                         headers=h))
    assert (put["name"], put["type"], put["status"], put["address"]["country"]) == ("Renamed", "mixed", "active",
                                                                                   "FR")
