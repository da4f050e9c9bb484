"""Sensor and alert-rule lifecycle: facts on telemetry.events (through the outbox, read from the real topic),
Idempotency-Key on creates, ETag and If-Match (412) on updates and deletes."""

from __future__ import annotations

from collections import Counter

from hearth_contracts.topics import TELEMETRY_EVENTS
from hearth_kit.testing import EventReader, Infra, ServiceHarness
from telemetry_helpers import building, ok, unit

STALE = '"0000000000000000000000000000"'


async def test_sensor_lifecycle_is_announced_once_per_change(tele: ServiceHarness, infra: Infra,
                                                            org_id: str) -> None:
    h = tele.headers(org_id=org_id)
    bid = await building(infra, org_id)
    body = {"building_id": bid, "kind": "temperature", "name": "Hall", "external_id": "hall-1"}
    async with EventReader(infra.kafka_bootstrap, TELEMETRY_EVENTS.name) as reader:
        first = await tele.client.post("/v1/sensors", json=body, headers={**h, "Idempotency-Key": "hall-1"})
        replay = await tele.client.post("/v1/sensors", json=body, headers={**h, "Idempotency-Key": "hall-1"})
        made = await ok(first, 201)
        sid = made["id"]
        assert (await ok(replay, 201))["id"] == sid
        assert first.headers["location"] == f"/v1/sensors/{sid}"
        path = f"/v1/sensors/{sid}"
        etag = (await tele.client.get(path, headers=h)).headers["etag"]
        assert first.headers["etag"] == etag

        stale = await tele.client.patch(path, json={"name": "Lost update"}, headers={**h, "If-Match": STALE})
        assert stale.status_code == 412, stale.text
        assert stale.headers["content-type"].startswith("application/problem+json")
        assert (await ok(await tele.client.get(path, headers=h)))["name"] == "Hall"

        renamed = await tele.client.patch(path, json={"name": "Hallway", "offline_after_seconds": 60},
                                          headers={**h, "If-Match": etag})
        assert (await ok(renamed))["name"] == "Hallway" and renamed.headers["etag"] != etag
        same = await tele.client.patch(path, json={"name": "Hallway"}, headers=h)  # changes nothing
        assert same.headers["etag"] == renamed.headers["etag"]

        assert (await tele.client.delete(path, headers={**h, "If-Match": etag})).status_code == 412
        assert (await tele.client.delete(path, headers={**h, "If-Match": renamed.headers["etag"]})).status_code == 204
        assert (await tele.client.delete(path, headers=h)).status_code == 204  # retiring twice changes nothing

        await reader.wait_for(lambda _k, e: e.type == "hearth.sensor.retired.v1" and e.subject == sid)
        mine = [(k, e) for k, e in reader.seen if e.subject == sid]
        assert Counter(e.type for _, e in mine) == {
            "hearth.sensor.registered.v1": 1, "hearth.sensor.updated.v1": 1, "hearth.sensor.retired.v1": 1}
        assert all(k == sid.encode() and e.orgid == org_id for k, e in mine)
        by_type = {e.type: e.data for _, e in mine}
        assert by_type["hearth.sensor.registered.v1"]["name"] == "Hall"
        assert by_type["hearth.sensor.registered.v1"]["external_id"] == "hall-1"
        assert by_type["hearth.sensor.updated.v1"]["name"] == "Hallway"
        assert by_type["hearth.sensor.updated.v1"]["offline_after_seconds"] == 60
        assert by_type["hearth.sensor.retired.v1"]["status"] == "retired"
        # the org's first sensor brought its default water-leak rule, announced once
        defaults = await reader.wait_for(lambda _k, e: e.type == "hearth.alert_rule.created.v1" and e.orgid == org_id)
        assert len(defaults) == 1 and defaults[0][1].data["is_default"] is True


async def test_alert_rule_changes_are_announced_and_guarded_by_if_match(tele: ServiceHarness, infra: Infra,
                                                                       org_id: str) -> None:
    h = tele.headers(org_id=org_id)
    bid = await building(infra, org_id)
    body = {"name": "Too warm", "kind": "temperature", "building_id": bid, "condition": "above", "threshold": 28,
            "for_seconds": 60, "severity": "warning"}
    async with EventReader(infra.kafka_bootstrap, TELEMETRY_EVENTS.name) as reader:
        first = await tele.client.post("/v1/alert-rules", json=body, headers={**h, "Idempotency-Key": "warm"})
        rule = await ok(first, 201)
        rid = rule["id"]
        again = await tele.client.post("/v1/alert-rules", json=body, headers={**h, "Idempotency-Key": "warm"})
        assert (await ok(again, 201))["id"] == rid
        reused = await tele.client.post("/v1/alert-rules", json={**body, "threshold": 30},
                                        headers={**h, "Idempotency-Key": "warm"})
        assert reused.status_code == 422, reused.text  # the same key with another body is refused
        path = f"/v1/alert-rules/{rid}"
        etag = (await tele.client.get(path, headers=h)).headers["etag"]

        assert (await tele.client.patch(path, json={"threshold": 35}, headers={**h, "If-Match": STALE})).status_code \
            == 412
        changed = await ok(await tele.client.patch(path, json={"threshold": 30}, headers={**h, "If-Match": etag}))
        assert changed["threshold"] == 30
        bad = await tele.client.patch(path, json={"condition": "outside_range"}, headers=h)  # no threshold_high
        assert bad.status_code == 422, bad.text
        assert (await tele.client.delete(path, headers={**h, "If-Match": etag})).status_code == 412
        assert (await tele.client.delete(path, headers=h)).status_code == 204
        assert (await tele.client.get(path, headers=h)).status_code == 404

        await reader.wait_for(lambda _k, e: e.type == "hearth.alert_rule.deleted.v1" and e.subject == rid)
        kinds = Counter(e.type for _, e in reader.seen if e.subject == rid)
        assert kinds == {"hearth.alert_rule.created.v1": 1, "hearth.alert_rule.updated.v1": 1,
                         "hearth.alert_rule.deleted.v1": 1}
        updated = next(e.data for _, e in reader.seen if e.type == "hearth.alert_rule.updated.v1" and e.subject == rid)
        assert updated["threshold"] == 30 and updated["building_id"] == bid

    default = next(r for r in (await tele.client.get("/v1/alert-rules", headers=h)).json()["data"] if r["is_default"])
    resp = await tele.client.delete(f"/v1/alert-rules/{default['id']}", headers=h)
    assert resp.status_code == 409 and resp.headers["content-type"].startswith("application/problem+json")
    disabled = await ok(await tele.client.patch(f"/v1/alert-rules/{default['id']}", json={"enabled": False},
                                                headers=h))
    assert disabled["enabled"] is False


async def test_refused_sensor_changes_write_and_announce_nothing(tele: ServiceHarness, infra: Infra,
                                                                org_id: str) -> None:
    h = tele.headers(org_id=org_id)
    bid = await building(infra, org_id)
    elsewhere = await unit(infra, org_id, await building(infra, org_id))
    taken = await ok(await tele.client.post("/v1/sensors", headers=h, json={
        "building_id": bid, "kind": "co2", "name": "Taken", "external_id": "taken"}), 201)
    made = await ok(await tele.client.post("/v1/sensors", headers=h, json={
        "building_id": bid, "kind": "co2", "name": "Mine", "external_id": "mine"}), 201)
    path = f"/v1/sensors/{made['id']}"
    etag = (await tele.client.get(path, headers=h)).headers["etag"]
    async with EventReader(infra.kafka_bootstrap, TELEMETRY_EVENTS.name) as reader:
        for body, status in (({"unit_id": elsewhere}, 422), ({"name": None}, 422), ({"unit_of_measure": None}, 422),
                             ({"external_id": "taken"}, 409), ({"offline_after_seconds": 0}, 422),
                             ({"kind": "smoke"}, 422), ({"name": "x\x00"}, 422)):
            resp = await tele.client.patch(path, json=body, headers=h)
            assert resp.status_code == status, (body, resp.text)
            assert resp.headers["content-type"].startswith("application/problem+json")
        ro = tele.headers(org_id=org_id, role="partner")
        assert (await tele.client.delete(path, headers=ro)).status_code == 403
        marker = await tele.client.patch(f"/v1/sensors/{taken['id']}", json={"name": "Marker"}, headers=h)
        await reader.wait_for(lambda _k, e: e.type == "hearth.sensor.updated.v1" and e.subject == taken["id"])
        changes = [(e.type, e.subject) for _, e in reader.seen  # registrations may still be on their way
                   if e.orgid == org_id and e.type in ("hearth.sensor.updated.v1", "hearth.sensor.retired.v1")]
        assert changes == [("hearth.sensor.updated.v1", taken["id"])]
    after = await tele.client.get(path, headers=h)
    assert after.headers["etag"] == etag and marker.status_code == 200
    assert after.json()["data"]["status"] == "active" and after.json()["data"]["external_id"] == "mine"
