"""Org isolation on every route: another org's request id answers 404 and changes nothing; lists never leak."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaProducer
from hearth_kit.ids import new_id
from hearth_kit.testing import ServiceHarness
from maint_helpers import make_world, mk_request, ok, problem

pytestmark = pytest.mark.integration

WINDOW = {"start": "2030-01-01T09:00:00Z", "end": "2030-01-01T10:00:00Z"}


async def test_another_orgs_request_is_404_on_every_route(maint: ServiceHarness, producer: AIOKafkaProducer) -> None:
    mine = await make_world(maint, producer, new_id("org"))
    theirs = await make_world(maint, producer, new_id("org"))
    req = await mk_request(maint, mine, assignee_id=mine.tech)
    ok(await maint.client.post(f"/v1/requests/{req['id']}/comments", json={"body": "secret"},
                               headers=maint.headers(org_id=mine.org)), 201)
    ok(await maint.client.put("/v1/maintenance-settings", json={"sla_hours": {
        "emergency": 1, "high": 2, "normal": 3, "low": 4}}, headers=maint.headers(org_id=mine.org)))
    h = maint.headers(org_id=theirs.org)
    rid = req["id"]
    calls = [
        ("GET", f"/v1/requests/{rid}", None), ("PATCH", f"/v1/requests/{rid}", {"status": "canceled"}),
        ("PATCH", f"/v1/requests/{rid}", {"title": "mine now"}),
        ("POST", f"/v1/requests/{rid}/assign", {"assignee_id": theirs.tech}),
        ("POST", f"/v1/requests/{rid}/unassign", {}), ("POST", f"/v1/requests/{rid}/start", {}),
        ("POST", f"/v1/requests/{rid}/hold", {}), ("POST", f"/v1/requests/{rid}/resume", {}),
        ("POST", f"/v1/requests/{rid}/complete", {"force": True}), ("POST", f"/v1/requests/{rid}/cancel", {}),
        ("POST", f"/v1/requests/{rid}/reopen", {}),
        ("POST", f"/v1/requests/{rid}/reschedule", {"scheduled_window": WINDOW}),
        ("POST", f"/v1/requests/{rid}/comments", {"body": "hello"}), ("GET", f"/v1/requests/{rid}/comments", None),
    ]
    for method, path, body in calls:
        problem(await maint.client.request(method, path, json=body, headers=h), 404)
    assert ok(await maint.client.get("/v1/requests", headers=h)) == []
    assert ok(await maint.client.get(f"/v1/requests?building_id={mine.building}", headers=h)) == []
    assert ok(await maint.client.get("/v1/maintenance-settings", headers=h))["defaults"] is True
    # their technician cannot be assigned to my request, nor may I file work on their building
    problem(await maint.client.post(f"/v1/requests/{rid}/assign", json={"assignee_id": theirs.tech},
                                    headers=maint.headers(org_id=mine.org)), 422)
    after = ok(await maint.client.get(f"/v1/requests/{rid}", headers=maint.headers(org_id=mine.org)))
    assert (after["status"], after["title"], after["updated_at"]) == ("assigned", req["title"], req["updated_at"])
    assert [c["body"] for c in after["comments"]] == ["secret"]


async def test_odd_ids_are_404_not_errors(maint: ServiceHarness) -> None:
    h = maint.headers(org_id=new_id("org"))
    for rid in ("nope", "req_" + "a" * 300, "bld_01jd3k0000000000000000000"):
        problem(await maint.client.get(f"/v1/requests/{rid}", headers=h), 404)
        problem(await maint.client.post(f"/v1/requests/{rid}/start", headers=h), 404)
    # a NUL anywhere in the URL is refused by the kit's edge (400) before any route runs
    problem(await maint.client.get("/v1/requests/req_%00", headers=h), 400)
    problem(await maint.client.post("/v1/requests/req_%00/start", headers=h), 400)
    problem(await maint.client.get("/v1/requests?q=a%00b", headers=h), 400)
    problem(await maint.client.get("/v1/requests?building_id=bld_%00", headers=h), 400)
    problem(await maint.client.get("/v1/requests?created_from=99999-01-01T00:00:00Z", headers=h), 422)
    problem(await maint.client.get("/v1/requests?created_to=0001-01-01T00:00:00%2B01:00", headers=h), 422)
    problem(await maint.client.get("/v1/requests", headers={}), 401)
