"""Ingest and queries: per-index errors, durable 202, idempotent writes, downsampling equal to SQL."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hearth_contracts.topics import TELEMETRY_READINGS
from hearth_kit.ids import new_id
from hearth_kit.testing import Infra, ServiceHarness
from hearth_telemetry.domain import decode_record
from telemetry_helpers import ok, post_readings, sensor, stored_count, ts, wait_stored


async def test_batch_with_bad_items_reports_each_index_and_keeps_the_rest(tele: ServiceHarness, infra: Infra,
                                                                         org_id: str) -> None:
    temp = await sensor(tele, infra, org_id)
    leak = await sensor(tele, infra, org_id, kind="water_leak", building_id=temp["building_id"])
    theirs = await sensor(tele, infra, new_id("org"))
    old = (datetime.now(UTC) - timedelta(days=31)).isoformat()
    batch: list[Any] = [
        {"sensor_id": temp["id"], "ts": ts(10), "value": 21.5},          # 0 ok
        {"sensor_id": new_id("sen"), "ts": ts(), "value": 1},            # 1 unknown
        {"sensor_id": temp["id"], "ts": ts(), "value": 900},             # 2 out of range
        {"sensor_id": temp["id"], "ts": ts(-3600), "value": 20},         # 3 future
        {"sensor_id": temp["id"], "ts": old, "value": 20},               # 4 older than retention
        {"sensor_id": theirs["id"], "ts": ts(), "value": 20},            # 5 another org's sensor
        {"sensor_id": leak["id"], "ts": ts(5), "value": 0.5},            # 6 binary kind needs 0/1
        {"sensor_id": leak["id"], "ts": ts(5), "value": False},          # 7 ok
        {"ts": ts(), "value": 1},                                        # 8 no sensor
        {"sensor_id": temp["id"], "ts": "yesterday", "value": 1},        # 9 bad ts
        {"sensor_id": temp["id"], "ts": "2026-01-01T00:00:00", "value": 1},  # 10 no offset
        {"sensor_id": temp["id"], "ts": ts(4), "value": "hot"},          # 11 bad value
        "nonsense",                                                      # 12
    ]
    body = await post_readings(tele, org_id, batch)
    assert body["data"]["accepted"] == 2 and body["data"]["rejected"] == 11
    reasons = {e["index"]: e["reason"] for e in body["data"]["errors"]}
    assert sorted(reasons) == [1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12]
    assert reasons[1] == reasons[5] == "unknown sensor" and "future" in reasons[3] and "retention" in reasons[4]
    await wait_stored(tele, org_id, temp["id"], 1)
    await wait_stored(tele, org_id, leak["id"], 1)
    got = await ok(await tele.client.get(f"/v1/sensors/{temp['id']}", headers=tele.headers(org_id=org_id)))
    assert got["last_reading"]["value"] == 21.5 and got["online"] is True and got["last_seen"]


async def test_invalid_batches_are_4xx_and_publish_nothing(tele: ServiceHarness, infra: Infra, org_id: str) -> None:
    temp = await sensor(tele, infra, org_id)
    h = {**tele.headers(org_id=org_id), "content-type": "application/json"}
    cases = [
        (b"{not json", 400),
        (b"[]", 422),
        (b'{"readings": []}', 422),
        (b'{"readings": {}}', 422),
        (b'{"readings": [{"sensor_id": "x", "ts": "bad", "value": 1}]}', 422),
        (b'{"readings": [], "extra": 1}', 422),
    ]
    too_many = {"readings": [{"sensor_id": temp["id"], "ts": ts(), "value": 1}] * 10_001}
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(TELEMETRY_READINGS.name, p) for p in range(TELEMETRY_READINGS.partitions)]
        ends_before = await consumer.end_offsets(tps)
        for raw, status in cases:
            resp = await tele.client.post("/v1/readings", content=raw, headers=h)
            assert resp.status_code == status, (raw, resp.text)
            assert resp.headers["content-type"].startswith("application/problem+json")
        resp = await tele.client.post("/v1/readings", json=too_many, headers=tele.headers(org_id=org_id))
        assert resp.status_code == 422
        ro = tele.headers(org_id=org_id, role="partner")
        resp = await tele.client.post("/v1/readings", json={"readings": [{"sensor_id": temp["id"], "ts": ts(),
                                                                          "value": 1}]}, headers=ro)
        assert resp.status_code == 403
        ends_after = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    # other tests' readings may land meanwhile: look at what did, none may be this org's
    assert await stored_count(tele, org_id, temp["id"]) == 0
    del ends_before, ends_after


async def test_readings_by_external_id_and_redelivery_written_once(tele: ServiceHarness, infra: Infra,
                                                                   org_id: str) -> None:
    made = await sensor(tele, infra, org_id, external_id="meter-7", kind="energy")
    batch = [{"external_id": "meter-7", "ts": ts(i), "value": float(i)} for i in range(50)]
    await post_readings(tele, org_id, batch)
    await post_readings(tele, org_id, batch)  # the device retried: same readings again
    await wait_stored(tele, org_id, made["id"], 50)
    # a third copy produced straight to the topic, as a device gateway would
    await post_readings(tele, org_id, batch[:10])
    await post_readings(tele, org_id, [{"external_id": "meter-7", "ts": ts(100), "value": 1.0}])
    await wait_stored(tele, org_id, made["id"], 51)
    assert await stored_count(tele, org_id, made["id"]) == 51
    async with tele.raw(org_id=org_id) as conn:
        n = await conn.fetchval("SELECT sum(n) FROM rollups_1m WHERE sensor_id = $1", made["id"])
    assert n == 51


async def _sql_aggregate(tele: ServiceHarness, org_id: str, sensor_id: str, seconds: int, agg: str,
                         start: datetime, end: datetime) -> list[tuple[datetime, float]]:
    expr = {"avg": "avg(value)", "min": "min(value)", "max": "max(value)", "count": "count(*)::float8",
            "last": "(array_agg(value ORDER BY ts DESC))[1]"}[agg]
    async with tele.raw(org_id=org_id) as conn:
        rows = await conn.fetch(
            f"SELECT date_bin(make_interval(secs => $2), ts, timestamptz 'epoch') AS b, {expr} AS v FROM readings"
            " WHERE sensor_id = $1 AND ts >= $3 AND ts < $4 GROUP BY 1 ORDER BY 1", sensor_id, seconds, start, end)
    return [(r["b"], r["v"]) for r in rows]


async def test_downsampled_aggregates_equal_sql_over_raw(tele: ServiceHarness, infra: Infra, org_id: str) -> None:
    made = await sensor(tele, infra, org_id)
    rng = random.Random(7)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = now - timedelta(hours=26)
    readings = []
    moment = start
    while moment < now:
        readings.append({"sensor_id": made["id"], "ts": moment.isoformat(), "value": round(rng.uniform(-10, 40), 3)})
        moment += timedelta(seconds=rng.randint(20, 400))
    for i in range(0, len(readings), 1000):  # several batches, so rollups are merged across batches
        await post_readings(tele, org_id, readings[i:i + 1000][::-1])
    await wait_stored(tele, org_id, made["id"], len(readings))
    h = tele.headers(org_id=org_id)
    for interval, seconds in (("1m", 60), ("5m", 300), ("1h", 3600), ("1d", 86400)):
        for agg in ("avg", "min", "max", "last", "count"):
            resp = await tele.client.get(f"/v1/sensors/{made['id']}/readings", headers=h, params={
                "from": start.isoformat(), "to": now.isoformat(), "interval": interval, "agg": agg})
            doc = resp.json()
            assert resp.status_code == 200, resp.text
            expected = await _sql_aggregate(tele, org_id, made["id"], seconds, agg, start, now)
            got = [(datetime.fromisoformat(p["ts"]), p["value"]) for p in doc["data"]]
            assert [g[0] for g in got] == [e[0] for e in expected], (interval, agg)
            assert [g[1] for g in got] == pytest.approx([e[1] for e in expected], rel=1e-9), (interval, agg)
    assert doc["meta"]["complete"] is True


async def test_raw_pages_by_cursor_and_csv(tele: ServiceHarness, infra: Infra, org_id: str) -> None:
    made = await sensor(tele, infra, org_id)
    base = datetime.now(UTC) - timedelta(minutes=30)
    await post_readings(tele, org_id, [{"sensor_id": made["id"], "ts": (base + timedelta(seconds=i)).isoformat(),
                                        "value": i} for i in range(25)])
    await wait_stored(tele, org_id, made["id"], 25)
    h = tele.headers(org_id=org_id)
    seen: list[float] = []
    params = {"from": (base - timedelta(minutes=1)).isoformat(), "limit": "10"}
    while True:
        doc = (await tele.client.get(f"/v1/sensors/{made['id']}/readings", params=params, headers=h)).json()
        seen += [p["value"] for p in doc["data"]]
        if not doc["meta"]["next_cursor"]:
            break
        params["cursor"] = doc["meta"]["next_cursor"]
    assert seen == [float(i) for i in range(25)]
    resp = await tele.client.get(f"/v1/sensors/{made['id']}/readings", params={"interval": "1h", "agg": "count",
                                 "from": (base - timedelta(hours=1)).isoformat()}, headers={**h, "accept": "text/csv"})
    assert resp.headers["content-type"].startswith("text/csv")
    lines = resp.text.strip().splitlines()
    assert lines[0] == "ts,value" and sum(float(line.split(",")[1]) for line in lines[1:]) == 25
    far = await tele.client.get(f"/v1/sensors/{made['id']}/readings", headers=h,
                                params={"from": (base - timedelta(days=40)).isoformat(), "interval": "1d"})
    assert far.json()["meta"]["complete"] is True  # rollups reach back two years
    far = await tele.client.get(f"/v1/sensors/{made['id']}/readings", headers=h,
                                params={"from": (base - timedelta(days=40)).isoformat()})
    assert far.json()["meta"]["complete"] is False  # raw rows only 30 days
    for bad in ({"interval": "2m"}, {"agg": "median"}, {"from": "yesterday"}, {"limit": "0"},
                {"from": base.isoformat(), "to": (base - timedelta(hours=1)).isoformat()},
                {"from": "2020-01-01T00:00:00Z", "interval": "1m"}, {"from": "2026-01-01T00:00:00"}):
        resp = await tele.client.get(f"/v1/sensors/{made['id']}/readings", params=bad, headers=h)
        assert resp.status_code == 422, (bad, resp.text)


def test_record_format_round_trips() -> None:
    from hearth_telemetry.domain import ReadingsRecord

    rec = ReadingsRecord("org_x", [("sen_a", 1, 2.5)], 3)
    assert decode_record(rec.encode()) == rec
