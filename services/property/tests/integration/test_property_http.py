"""HTTP details clients rely on: Location on 201, ETag on single resources, If-Match on writes (412),
and responses that match the documented response models."""

from __future__ import annotations

import pytest
from hearth_kit.api import Data, Page
from hearth_kit.testing import ServiceHarness
from hearth_property.api.models import Building, Lease, ResidentDetail, Unit
from property_helpers import lease_body, mk_agent, mk_building, mk_resident, mk_unit, ok, unit_body

pytestmark = pytest.mark.integration


async def test_create_answers_location_and_etag_and_get_repeats_the_etag(prop: ServiceHarness, org_id: str) -> None:
    h = prop.headers(org_id=org_id)
    b = await mk_building(prop, org_id)
    created = await prop.client.post("/v1/units", json=unit_body(b["id"]), headers=h)
    assert created.status_code == 201
    unit_id = created.json()["data"]["id"]
    assert created.headers["location"] == f"/v1/units/{unit_id}"
    got = await prop.client.get(created.headers["location"], headers=h)
    assert got.status_code == 200 and got.headers["etag"] == created.headers["etag"]
    assert got.headers["etag"].startswith('"')  # a strong tag: If-Match compares it


async def test_if_match_guards_patch_put_and_delete(prop: ServiceHarness, org_id: str) -> None:
    h = prop.headers(org_id=org_id)
    b = await mk_building(prop, org_id, name="Before")
    path = f"/v1/buildings/{b['id']}"
    first = (await prop.client.get(path, headers=h)).headers["etag"]

    changed = await prop.client.patch(path, json={"name": "After"}, headers={**h, "If-Match": first})
    assert changed.status_code == 200, changed.text
    second = changed.headers["etag"]
    assert second != first

    stale = await prop.client.patch(path, json={"name": "Lost update"}, headers={**h, "If-Match": first})
    assert stale.status_code == 412
    assert stale.headers["content-type"] == "application/problem+json"
    assert stale.json()["etag"] == second
    stale_put = await prop.client.put(path, json={"name": "X", "type": "commercial", "address": b["address"]},
                                      headers={**h, "If-Match": first})
    assert stale_put.status_code == 412
    stale_delete = await prop.client.delete(path, headers={**h, "If-Match": first})
    assert stale_delete.status_code == 412
    now = await ok(await prop.client.get(path, headers=h))
    assert (now["name"], now["type"]) == ("After", "residential")  # nothing changed by the refused writes

    weak = await prop.client.patch(path, json={"name": "Weak"}, headers={**h, "If-Match": f"W/{second}"})
    assert weak.status_code == 412  # If-Match uses the strong comparison
    star = await prop.client.patch(path, json={"name": "Any"}, headers={**h, "If-Match": "*"})
    assert star.status_code == 200
    gone = await prop.client.delete(path, headers={**h, "If-Match": star.headers["etag"]})
    assert gone.status_code == 204


async def test_responses_match_their_documented_models(prop: ServiceHarness, org_id: str) -> None:
    h = prop.headers(org_id=org_id)
    b = await mk_building(prop, org_id)
    agent = await mk_agent(prop, org_id)
    unit = await mk_unit(prop, org_id, b["id"], assigned_agent=agent["id"], bedrooms=2, bathrooms="1.5",
                         size={"interior": "70.5"}, features=["garden"])
    resident = await mk_resident(prop, org_id)
    await ok(await prop.client.post("/v1/leases", json=lease_body(unit["id"], [resident["id"]], "2024-01-01",
                                                                   "2024-12-31"), headers=h), 201)
    Data[Unit].model_validate((await prop.client.get(f"/v1/units/{unit['id']}?expand=building,agent",
                                                     headers=h)).json())
    Page[Unit].model_validate((await prop.client.get("/v1/units", headers=h)).json())
    Page[Building].model_validate((await prop.client.get("/v1/buildings", headers=h)).json())
    detail = Data[ResidentDetail].model_validate(
        (await prop.client.get(f"/v1/residents/{resident['id']}", headers=h)).json())
    assert len(detail.data.leases) == 1
    Page[Lease].model_validate((await prop.client.get("/v1/leases", headers=h)).json())
