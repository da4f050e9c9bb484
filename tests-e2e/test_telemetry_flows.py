"""Telemetry through the gateway: sensors on property's buildings, ingest, history, alerts, the stream."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
import websockets

from conftest import bearer, new_org

pytestmark = pytest.mark.e2e


async def building_and_sensors(gw: httpx.AsyncClient, h: dict[str, str]) -> dict[str, Any]:
    building = (await gw.post("/v1/buildings", headers=h, json={
        "name": "Sensor House", "type": "residential", "timezone": "UTC",
        "address": {"line1": "1 Probe Lane", "city": "Berlin", "country": "DE"}})).json()["data"]
    sensors = {}
    for kind in ("temperature", "water_leak"):
        for _ in range(50):  # the building reaches telemetry's projection through property.events
            resp = await gw.post("/v1/sensors", headers=h, json={"building_id": building["id"], "kind": kind,
                                                                 "name": kind, "external_id": f"e2e-{kind}"})
            if resp.status_code != 422:
                break
            await asyncio.sleep(0.2)
        assert resp.status_code == 201, resp.text
        sensors[kind] = resp.json()["data"]
    return {"building": building, **sensors}


async def test_ingest_history_and_leak_alert_through_the_gateway(gw: httpx.AsyncClient,
                                                                 demo: dict[str, Any]) -> None:
    org = await new_org(gw, demo)
    h = bearer(org["key"])
    s = await building_and_sensors(gw, h)
    base = datetime.now(UTC) - timedelta(minutes=10)
    readings = [{"sensor_id": s["temperature"]["id"], "ts": (base + timedelta(seconds=i)).isoformat(),
                 "value": 20 + i % 5} for i in range(300)]
    readings += [{"external_id": "e2e-water_leak", "ts": base.isoformat(), "value": 1},
                 {"sensor_id": s["temperature"]["id"], "ts": base.isoformat(), "value": 999}]
    resp = await gw.post("/v1/readings", headers=h, json={"readings": readings})
    assert resp.status_code == 202, resp.text
    assert resp.json()["data"]["accepted"] == 301 and resp.json()["data"]["errors"][0]["index"] == 301
    path = f"/v1/sensors/{s['temperature']['id']}/readings"
    for _ in range(100):
        doc = (await gw.get(path, headers=h, params={"interval": "1h", "agg": "count",
                                                       "from": (base - timedelta(hours=1)).isoformat()})).json()
        if sum(p["value"] for p in doc["data"]) == 300:
            break
        await asyncio.sleep(0.1)
    assert sum(p["value"] for p in doc["data"]) == 300
    for _ in range(100):
        alerts = (await gw.get("/v1/alerts", headers=h, params={"state": "raised"})).json()["data"]
        if alerts:
            break
        await asyncio.sleep(0.1)
    assert [(a["sensor_id"], a["severity"]) for a in alerts] == [(s["water_leak"]["id"], "critical")]
    other = bearer((await new_org(gw, demo))["key"])
    assert (await gw.get(f"/v1/sensors/{s['temperature']['id']}", headers=other)).status_code == 404
    assert (await gw.get(path, headers=other)).status_code == 404
    assert (await gw.get(f"/v1/alerts/{alerts[0]['id']}", headers=other)).status_code == 404


async def test_stream_through_the_gateway_is_org_scoped(gw: httpx.AsyncClient, demo: dict[str, Any]) -> None:
    org = await new_org(gw, demo)
    h = bearer(org["key"])
    s = await building_and_sensors(gw, h)
    stranger = await new_org(gw, demo)
    ws_base = demo["gateway_url"].replace("http", "ws", 1) + "/v1/sensors/stream"
    mine = await websockets.connect(f"{ws_base}?kind=temperature", additional_headers=h)
    theirs = await websockets.connect(f"{ws_base}?access_token={stranger['key']}")
    for ws in (mine, theirs):
        assert orjson.loads(await asyncio.wait_for(ws.recv(), 30))["type"] == "subscribed"
    now = datetime.now(UTC).isoformat()
    resp = await gw.post("/v1/readings", headers=h, json={"readings": [
        {"sensor_id": s["temperature"]["id"], "ts": now, "value": 21.5},
        {"sensor_id": s["water_leak"]["id"], "ts": now, "value": 0}]})
    assert resp.status_code == 202
    got: list[dict[str, Any]] = []
    while not got:
        msg = orjson.loads(await asyncio.wait_for(mine.recv(), 10))
        if msg["type"] == "readings":
            got = msg["data"]
    assert [(r["sensor_id"], r["value"]) for r in got] == [(s["temperature"]["id"], 21.5)]

    async def only_heartbeats() -> None:  # the stranger's stream never carries this org's readings
        while True:
            msg = orjson.loads(await asyncio.wait_for(theirs.recv(), 2))
            assert msg["type"] == "heartbeat"

    with pytest.raises(TimeoutError):
        await only_heartbeats()
    for ws in (mine, theirs):
        await ws.close()
    with pytest.raises(websockets.InvalidStatus):
        await websockets.connect(ws_base)


async def test_demo_sensors_are_fed_by_the_simulator(gw: httpx.AsyncClient, demo: dict[str, Any]) -> None:
    h = bearer(demo["api_key"])
    if not (await gw.get("/v1/buildings", headers=h)).json()["data"]:
        pytest.skip("the demo org has no buildings (property's demo seed did not run)")
    for _ in range(150):
        sensors = (await gw.get("/v1/sensors", headers=h, params={"limit": 100})).json()["data"]
        if sensors and any(x["last_reading"] for x in sensors):
            break
        await asyncio.sleep(0.2)
    assert sensors, "the demo seed registered no sensors"
    assert any(x["last_reading"] for x in sensors), "the device simulator fed nothing"


async def test_sensor_and_rule_writes_through_the_gateway_honour_if_match_and_idempotency_key(
        gw: httpx.AsyncClient, demo: dict[str, Any]) -> None:
    org = await new_org(gw, demo)
    h = bearer(org["key"])
    s = await building_and_sensors(gw, h)
    path = f"/v1/sensors/{s['temperature']['id']}"
    got = await gw.get(path, headers=h)
    etag = got.headers["etag"]
    stale = await gw.patch(path, headers={**h, "If-Match": '"stale"'}, json={"name": "Lost"})
    assert stale.status_code == 412 and stale.headers["content-type"].startswith("application/problem+json")
    fresh = await gw.patch(path, headers={**h, "If-Match": etag}, json={"name": "Kitchen"})
    assert fresh.status_code == 200 and fresh.json()["data"]["name"] == "Kitchen" and fresh.headers["etag"] != etag
    rule = {"name": "Warm", "sensor_id": s["temperature"]["id"], "condition": "above", "threshold": 28}
    first = await gw.post("/v1/alert-rules", headers={**h, "Idempotency-Key": "warm-1"}, json=rule)
    again = await gw.post("/v1/alert-rules", headers={**h, "Idempotency-Key": "warm-1"}, json=rule)
    assert first.status_code == again.status_code == 201, first.text
    assert first.json()["data"]["id"] == again.json()["data"]["id"]
    rules = (await gw.get("/v1/alert-rules", headers=h)).json()["data"]
    assert [r["name"] for r in rules if not r["is_default"]] == ["Warm"]
    rule_path = f"/v1/alert-rules/{first.json()['data']['id']}"
    assert (await gw.delete(rule_path, headers={**h, "If-Match": etag})).status_code == 412
    assert (await gw.delete(rule_path, headers={**h, "If-Match": first.headers["etag"]})).status_code == 204
