"""The writer: unusable records parked on the DLT with a reason; a crash mid-batch loses and doubles nothing."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord
from hearth_contracts.topics import TELEMETRY_READINGS, Topic
from hearth_kit.ids import new_id
from hearth_kit.messaging import ensure_topics
from hearth_kit.testing import Infra, ServiceHarness
from hearth_telemetry import writer as writer_module
from hearth_telemetry.domain import ReadingsRecord
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


def _records(org_id: str, readings: list[tuple[str, int, float]], *, topic: str, per_record: int = 500,
             offset: int = 0) -> list[ConsumerRecord]:
    """Kafka records as the writer gets them, `per_record` readings each, on a topic of the test's own (the
    writer notes owed rolls by topic, partition and offset: a test's fake offsets must not meet others')."""
    out = []
    for n, first in enumerate(range(0, len(readings), per_record)):
        value = ReadingsRecord(org_id, readings[first:first + per_record]).encode()
        out.append(ConsumerRecord(topic=topic, partition=0, offset=offset + n, timestamp=0, timestamp_type=0,
                                  key=org_id.encode(), value=value, checksum=None, serialized_key_size=0,
                                  serialized_value_size=len(value), headers=()))
    return out


async def _scenario(tele: ServiceHarness, infra: Infra, org_id: str, n: int, *, per_record: int = 500
                    ) -> tuple[str, list[tuple[str, int, float]], str, list[ConsumerRecord]]:
    """A sensor, `n` readings of it a second apart ending 10 minutes ago (values 0-99), and the Kafka records
    carrying them on a topic of the test's own: (sensor id, readings, topic, records)."""
    made = await sensor(tele, infra, org_id)
    readings = [(made["id"], now_us(600 - i), float(i % 100)) for i in range(n)]
    topic = new_id("test.readings")
    return made["id"], readings, topic, _records(org_id, readings, topic=topic, per_record=per_record)


async def _rolled_up(tele: ServiceHarness, org_id: str, sensor_id: str) -> tuple[int, float, float | None]:
    """(readings counted, their sum) in the minute rollups, and the sensor's last value."""
    async with tele.raw(org_id=org_id) as conn:
        row = await conn.fetchrow("SELECT sum(n), sum(total) FROM rollups_1m WHERE sensor_id = $1", sensor_id)
        assert row is not None
        last = await conn.fetchval("SELECT last_value FROM sensor_state WHERE sensor_id = $1", sensor_id)
    return int(row[0] or 0), float(row[1] or 0), last


async def _owed(tele: ServiceHarness, topic: str) -> list[tuple[int, int]]:
    async with tele.raw() as conn:  # (no org column, no RLS)
        rows = await conn.fetch("SELECT first_offset, last_offset FROM unrolled_batches WHERE topic = $1"
                                " ORDER BY first_offset", topic)
    return [(r[0], r[1]) for r in rows]


class _Commits:
    """Stands in for the consumer's commit: records the offsets a writer commits."""

    def __init__(self) -> None:
        self.made: list[dict[TopicPartition, int]] = []

    async def __call__(self, offsets: dict[TopicPartition, int]) -> None:
        self.made.append(offsets)


def _dies_after(patch: pytest.MonkeyPatch, target: object, name: str) -> None:
    """The process dies once `target.name` (called with a connection among its arguments) has run: its open
    transaction goes with it."""
    real = getattr(target, name)

    async def die(*args, **kwargs):  # type: ignore[no-untyped-def]
        await real(*args, **kwargs)
        next(a for a in args if isinstance(a, asyncpg.Connection)).terminate()
        raise ConnectionError("killed")

    patch.setattr(target, name, die)


async def test_writer_killed_while_storing_loses_nothing_and_writes_nothing_twice(
        tele: ServiceHarness, infra: Infra, org_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    sensor_id, readings, _, records = await _scenario(tele, infra, org_id, 500)
    runtime = tele.app.state.runtime

    crashed = ReadingsWriter(runtime)
    with monkeypatch.context() as patch:
        _dies_after(patch, ReadingsWriter, "_copy_new")  # every reading COPYed, the transaction not committed
        with pytest.raises(ConnectionError):
            await crashed.write(records)
    assert await stored_count(tele, org_id, sensor_id) == 0

    restarted = ReadingsWriter(runtime)
    try:
        first = await restarted.write(records)        # the redelivery after the restart
        await restarted.flush()
        again = await restarted.write(records[:1])    # and once more (offsets were not committed)
        await restarted.flush()
    finally:
        await restarted.close()
        await crashed.close()
    assert (first.inserted, again.inserted) == (500, 0)
    assert await stored_count(tele, org_id, sensor_id) == 500
    assert await _rolled_up(tele, org_id, sensor_id) == (500, sum(r[2] for r in readings), 99.0)


async def test_writer_killed_before_rolling_up_stored_readings_rolls_them_up_once_after_restart(
        tele: ServiceHarness, infra: Infra, org_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    sensor_id, readings, topic, records = await _scenario(tele, infra, org_id, 500, per_record=100)
    runtime = tele.app.state.runtime

    crashed = ReadingsWriter(runtime)
    assert (await crashed.write(records)).inserted == 500   # stored raw and queryable, its roll owed
    assert await stored_count(tele, org_id, sensor_id) == 500
    assert await _owed(tele, topic) == [(0, 4)]
    with monkeypatch.context() as patch:
        _dies_after(patch, writer_module, "evaluate_batch")  # the roll's rollups merged, its transaction not committed
        with pytest.raises(ConnectionError):
            await crashed.flush()
    assert await _rolled_up(tele, org_id, sensor_id) == (0, 0.0, None)

    restarted = ReadingsWriter(runtime)
    try:
        first = await restarted.write(records[:2])    # the redelivery after the restart, in two batches
        assert await _owed(tele, topic) == [(2, 4)]   # the tail stays owed to the next batch
        second = await restarted.write(records[2:])
        again = await restarted.write(records)        # and once more (offsets were not committed)
        await restarted.flush()
    finally:
        await restarted.close()
        await crashed.close()
    assert (first.inserted, second.inserted, again.inserted) == (0, 0, 0)
    assert await _owed(tele, topic) == []
    assert await stored_count(tele, org_id, sensor_id) == 500
    assert await _rolled_up(tele, org_id, sensor_id) == (500, sum(r[2] for r in readings), 99.0)


async def test_a_roll_leaves_out_batches_another_writer_was_given_again(
        tele: ServiceHarness, infra: Infra, org_id: str) -> None:
    """A rebalance hands a partition to writer B while writer A still owes its batch's roll: whichever
    claims the owed row rolls the readings up, once; A commits no offset for that partition."""
    sensor_id, readings, topic, records = await _scenario(tele, infra, org_id, 300, per_record=100)
    runtime = tele.app.state.runtime
    committed = _Commits()
    a, b = ReadingsWriter(runtime, commit=committed), ReadingsWriter(runtime)
    try:
        assert (await a.write(records)).inserted == 300
        assert (await b.write(records)).inserted == 0   # B: careful path, claims A's owed row
        await a.flush()
        more = [(sensor_id, now_us(100 - i), 150.0) for i in range(10)]
        assert (await a.write(_records(org_id, more, topic=topic, offset=3))).inserted == 10
        await a.flush()
    finally:
        await a.close()
        await b.close()
    assert committed.made == [{TopicPartition(topic, 0): 4}]   # only after the batch A rolled up itself
    assert await _rolled_up(tele, org_id, sensor_id) == (310, sum(r[2] for r in readings) + 1_500.0, 150.0)


async def test_a_failed_roll_is_retried_and_no_offset_is_committed_past_it(
        tele: ServiceHarness, infra: Infra, org_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    sensor_id, readings, topic, records = await _scenario(tele, infra, org_id, 200, per_record=100)
    runtime = tele.app.state.runtime
    committed = _Commits()
    async def database_hiccup(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise asyncpg.PostgresConnectionError("connection lost")

    writer = ReadingsWriter(runtime, commit=committed)
    try:
        await writer.write(records[:1])
        with monkeypatch.context() as patch:
            patch.setattr(writer_module, "evaluate_batch", database_hiccup)
            with pytest.raises(asyncpg.PostgresConnectionError):
                await writer.flush()
        assert committed.made == [] and await _owed(tele, topic) == [(0, 0)]
        await writer.write(records[1:])
        await writer.flush()   # the failed roll's batch first, then the next
    finally:
        await writer.close()
    assert committed.made == [{TopicPartition(topic, 0): 2}] and await _owed(tele, topic) == []
    assert await _rolled_up(tele, org_id, sensor_id) == (200, sum(r[2] for r in readings), 99.0)
