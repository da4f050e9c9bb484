"""Versions and hand-overs: ETags on reads and writes, If-Match refusing a stale write (412, nothing changed),
and an unassigned request announcing `hearth.request.unassigned.v1` so the technician's access can end."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaProducer
from hearth_kit.testing import EventReader, Infra, ServiceHarness
from maint_helpers import World, make_world, mk_request, ok, problem, request_body

pytestmark = pytest.mark.integration


@pytest.fixture
async def world(maint: ServiceHarness, producer: AIOKafkaProducer, org_id: str) -> World:
    return await make_world(maint, producer, org_id)


async def test_etags_and_if_match(maint: ServiceHarness, world: World) -> None:
    h = maint.headers(org_id=world.org)
    created = await maint.client.post("/v1/requests", json=request_body(world), headers=h)
    rid = ok(created, 201)["id"]
    first = await maint.client.get(f"/v1/requests/{rid}", headers=h)
    tag = first.headers["etag"]
    assert tag.startswith('"') and created.headers["etag"] == tag
    history = len(ok(first)["history"])

    patched = await maint.client.patch(f"/v1/requests/{rid}", json={"title": "Tap replaced"},
                                       headers={**h, "If-Match": tag})
    assert ok(patched)["title"] == "Tap replaced"
    new_tag = patched.headers["etag"]
    assert new_tag != tag and (await maint.client.get(f"/v1/requests/{rid}", headers=h)).headers["etag"] == new_tag

    # the old tag is stale now: PATCH and actions are refused and change nothing
    body = problem(await maint.client.patch(f"/v1/requests/{rid}", json={"title": "Lost update"},
                                            headers={**h, "If-Match": tag}), 412)
    assert body["etag"] == new_tag
    problem(await maint.client.post(f"/v1/requests/{rid}/assign", json={"assignee_id": world.tech},
                                    headers={**h, "If-Match": tag}), 412)
    problem(await maint.client.post(f"/v1/requests/{rid}/cancel", headers={**h, "If-Match": f"W/{new_tag}"}), 412)
    after = await maint.client.get(f"/v1/requests/{rid}", headers=h)
    doc = ok(after)
    assert (doc["title"], doc["status"], doc["assignee_id"]) == ("Tap replaced", "new", None)
    assert after.headers["etag"] == new_tag and len(doc["history"]) == history

    # a list of tags or `*` matches; an action answers with the next tag
    assigned = await maint.client.post(f"/v1/requests/{rid}/assign", json={"assignee_id": world.tech},
                                       headers={**h, "If-Match": f'"nope", {new_tag}'})
    assert ok(assigned)["status"] == "assigned" and assigned.headers["etag"] not in (tag, new_tag)
    ok(await maint.client.patch(f"/v1/requests/{rid}", json={"priority": "high"}, headers={**h, "If-Match": "*"}))


async def test_unassign_announces_the_end_of_the_assignment(maint: ServiceHarness, world: World,
                                                            infra: Infra) -> None:
    h = maint.headers(org_id=world.org, member_id=world.manager, role="manager")
    async with EventReader(infra.kafka_bootstrap, "maintenance.events") as reader:
        by_action = await mk_request(maint, world, assignee_id=world.tech)
        ok(await maint.client.post(f"/v1/requests/{by_action['id']}/unassign", json={"reason": "sick day"},
                                   headers=h))
        by_patch = await mk_request(maint, world, assignee_id=world.tech2)
        assert ok(await maint.client.patch(f"/v1/requests/{by_patch['id']}", json={"assignee_id": None},
                                           headers=h))["status"] == "new"
        # done → new is a reopen, not an unassignment
        reopened = await mk_request(maint, world, assignee_id=world.tech)
        for action in ("start", "complete", "reopen"):
            ok(await maint.client.post(f"/v1/requests/{reopened['id']}/{action}", headers=h))
        await reader.wait_for(lambda k, e: e.subject == reopened["id"] and e.type == "hearth.request.reopened.v1")
        seen = await reader.wait_for(lambda k, e: e.type == "hearth.request.unassigned.v1"
                                     and e.subject in (by_action["id"], by_patch["id"]), count=2, timeout=20)
    got = {e.subject: (k, e) for k, e in seen}
    key, event = got[by_action["id"]]
    assert key == by_action["id"].encode() and event.orgid == world.org
    assert event.data == {"request_id": by_action["id"], "org_id": world.org, "building_id": world.building,
                          "unit_id": world.unit, "previous_assignee_id": world.tech, "reason": "sick day"}
    assert got[by_patch["id"]][1].data["previous_assignee_id"] == world.tech2
    assert not [e for _, e in reader.seen if e.subject == reopened["id"] and e.type.endswith("unassigned.v1")]
    history = ok(await maint.client.get(f"/v1/requests/{by_action['id']}", headers=h))["history"]
    assert (history[-1]["from"], history[-1]["to"], history[-1]["reason"]) == ("assigned", "new", "sick day")
