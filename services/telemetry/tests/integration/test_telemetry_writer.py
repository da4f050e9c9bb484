"""The writer: unusable records parked on the DLT with a reason; a crash mid-batch loses and doubles nothing."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord
from hearth_contracts.topics import TELEMETRY_READINGS, Topic
from hearth_kit.ids import new_id
from hearth_kit.messaging import ensure_topics
from hearth_kit.testing import Infra, ServiceHarness
from hearth_telemetry import writer as writer_module
from hearth_telemetry.alerts import evaluate_batch
from hearth_telemetry.domain import ReadingsRecord
from hearth_telemetry.runtime import sensor_cache
from hearth_telemetry.writer import ReadingsWriter
from telemetry_helpers import sensor, stored_count, wait_stored

DLT = TELEMETRY_READINGS.name + ".dlt"


def now_us(seconds_ago: float = 0) -> int:
    return int((time.time() - seconds_ago) * 1_000_000)


async def test_unusable_records_and_readings_go_to_the_dlt_with_a_reason(tele: ServiceHarness, infra: Infra,
                                                                         org_id: str) -> None:
    good = await sensor(tele, infra, org_id)
    await ensure_topics(infra.kafka_bootstrap, [Topic(DLT, partitions=1)])
    reader = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap, enable_auto_commit=False)
    await reader.start()
    tp = TopicPartition(DLT, 0)
    reader.assign([tp])
    await reader.seek_to_end(tp)
    await reader.position(tp)
    marker = new_id("sen")  # an unknown sensor, unique to this test
    mixed = ReadingsRecord(org_id, [(good["id"], now_us(5), 20.0), (marker, now_us(5), 1.0)]).encode()
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for value in (b"not json " + marker.encode(), orjson.dumps({"org_id": "nope", "readings": [], "m": marker}),
                      mixed):
            await producer.send_and_wait(TELEMETRY_READINGS.name, value, key=org_id.encode())
    finally:
        await producer.stop()
    parked: dict[bytes, dict[str, bytes]] = {}
    deadline = asyncio.get_running_loop().time() + 20
    try:
        while len(parked) < 3 and asyncio.get_running_loop().time() < deadline:
            for records in (await reader.getmany(timeout_ms=500)).values():
                for rec in records:
                    if marker.encode() in (rec.value or b""):
                        parked[rec.value] = dict(rec.headers)
    finally:
        await reader.stop()
    assert len(parked) == 3, parked
    reasons = sorted(h["hearth-dlt-error"].decode() for h in parked.values())
    assert any("not JSON" in r for r in reasons) and any("org_id" in r for r in reasons)
    assert "unknown sensor" in reasons
    assert all(h["hearth-dlt-consumer"] == b"telemetry-writer" for h in parked.values())
    unknown_only = next(v for v, h in parked.items() if h["hearth-dlt-error"] == b"unknown sensor")
    assert orjson.loads(unknown_only)["readings"] == [[marker, orjson.loads(mixed)["readings"][1][1], 1.0]]
    await wait_stored(tele, org_id, good["id"], 1)  # the usable reading of the mixed record was kept


def _records(org_id: str, readings: list[tuple[str, int, float]], *, offset: int = 0) -> list[ConsumerRecord]:
    value = ReadingsRecord(org_id, readings).encode()
    return [ConsumerRecord(topic=TELEMETRY_READINGS.name, partition=0, offset=offset, timestamp=0, timestamp_type=0,
                           key=org_id.encode(), value=value, checksum=None, serialized_key_size=0,
                           serialized_value_size=len(value), headers=())]


async def test_writer_killed_mid_batch_loses_nothing_and_writes_nothing_twice(
        tele: ServiceHarness, infra: Infra, org_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    made = await sensor(tele, infra, org_id)
    runtime = tele.app.state.runtime
    readings = [(made["id"], now_us(600 - i), float(i % 100)) for i in range(500)]
    records = _records(org_id, readings)

    crashed = ReadingsWriter(runtime, sensor_cache(runtime))
    real_evaluate = evaluate_batch

    async def die_after_insert(conn, *args, **kwargs):  # type: ignore[no-untyped-def]
        assert await conn.fetchval("SELECT count(*) FROM readings WHERE sensor_id = $1", made["id"]) == 500
        conn.terminate()  # the process dies: its open transaction goes with it
        raise ConnectionError("killed")

    monkeypatch.setattr(writer_module, "evaluate_batch", die_after_insert)
    with pytest.raises(ConnectionError):
        await crashed.write(records)
    assert await stored_count(tele, org_id, made["id"]) == 0
    monkeypatch.setattr(writer_module, "evaluate_batch", real_evaluate)

    restarted = ReadingsWriter(runtime, sensor_cache(runtime))
    try:
        first = await restarted.write(records)        # the redelivery after the restart
        again = await restarted.write(records[:1])    # and once more (offsets were not committed)
    finally:
        await restarted.close()
        await crashed.close()
    assert (first.inserted, again.inserted) == (500, 0)
    assert await stored_count(tele, org_id, made["id"]) == 500
    async with tele.raw(org_id=org_id) as conn:
        row = await conn.fetchrow("SELECT sum(n), sum(total) FROM rollups_1m WHERE sensor_id = $1", made["id"])
        assert row is not None
        n, total = row
        last = await conn.fetchval("SELECT last_value FROM sensor_state WHERE sensor_id = $1", made["id"])
    assert n == 500 and total == sum(r[2] for r in readings) and last == 99.0
