"""The writer: consumes `telemetry.readings` in batches and stores them with COPY, idempotently.

Per batch (flushed by size or `writer_flush_ms` after its first record): decode the records (an unusable
record, or the unusable readings of one, go to `telemetry.readings.dlt` with the reason), COPY the
readings into a session temp table, then one statement inserts the new ones (`ON CONFLICT DO NOTHING`
on (sensor, ts)) and feeds only those into the minute rollups and the sensors' last values; alert
episodes advance in the same transaction. Offsets are committed after the transaction: a writer killed
anywhere in between sees the batch again, and the redelivery inserts nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Coroutine
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import CommitFailedError, KafkaError
from hearth_contracts.topics import TELEMETRY_READINGS
from hearth_kit.db import init_connection
from hearth_kit.logging import get_logger
from prometheus_client import Counter, Gauge

from hearth_telemetry import repository as repo
from hearth_telemetry.alerts import evaluate_batch
from hearth_telemetry.config import Settings
from hearth_telemetry.domain import (
    BINARY_KINDS,
    PHYSICAL_RANGE,
    US_PER_S,
    ReadingsRecord,
    SensorRef,
    UnusableRecord,
    decode_record,
    from_us,
)
from hearth_telemetry.runtime import TelemetryRuntime, sensor_cache
from hearth_telemetry.sensor_cache import SensorCache

log = get_logger(__name__)

WRITTEN = Counter("hearth_telemetry_readings_written_total", "Readings inserted (new rows)")
DUPLICATES = Counter("hearth_telemetry_readings_duplicate_total", "Readings skipped as already stored")
PARKED = Counter("hearth_telemetry_readings_parked_total", "Readings sent to the dead-letter topic")
BATCH_SECONDS = Gauge("hearth_telemetry_writer_last_batch_seconds", "Duration of the last written batch")
CONSUMER = "telemetry-writer"


@dataclass
class WriteResult:
    readings: int = 0
    inserted: int = 0
    parked: int = 0


def _unusable_reason(reading: tuple[str, int, float], org_id: str, sensor: SensorRef | None,
                     oldest_us: int, newest_us: int) -> str | None:
    _, ts, value = reading
    if sensor is None or sensor.org_id != org_id:
        return "unknown sensor"
    if not sensor.active:
        return "sensor is retired"
    if not oldest_us <= ts <= newest_us:
        return "timestamp outside the stored range"
    low, high = PHYSICAL_RANGE[sensor.kind]
    if not low <= value <= high or (sensor.kind in BINARY_KINDS and value not in (0.0, 1.0)):
        return f"value out of range for {sensor.kind}"
    return None


class ReadingsWriter:
    """Holds a dedicated connection (its temp table lives there) and the days whose partitions exist."""

    def __init__(self, runtime: TelemetryRuntime, cache: SensorCache) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.cache = cache
        self._conn: asyncpg.Connection | None = None
        self._days: set[date] = set()

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            conn = await asyncpg.connect(self.runtime.db.dsn, server_settings={
                "search_path": self.runtime.db.schema, "application_name": "hearth-telemetry-writer"})
            await init_connection(conn)
            await conn.execute(repo.INCOMING_TABLE)
            self._conn = conn
        return self._conn

    async def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None

    async def write(self, records: list[Any]) -> WriteResult:
        """Store a batch of Kafka records (all or nothing); park what cannot be used."""
        result = WriteResult()
        decoded: list[tuple[Any, ReadingsRecord]] = []
        parks: list[Coroutine[Any, Any, None]] = []  # sent together: a flood of bad records is one round trip
        for record in records:
            try:
                decoded.append((record, decode_record(record.value)))
            except UnusableRecord as exc:
                parks.append(self._park(record, str(exc)))
                result.parked += 1
        sensors = await self.cache.by_ids({r[0] for _, rec in decoded for r in rec.readings})
        now_us = time.time_ns() // 1000
        oldest_us = now_us - 400 * 86_400 * US_PER_S  # retention proper is the maintenance job's business
        newest_us = now_us + int(self.settings.max_future_seconds * US_PER_S) + 60 * US_PER_S
        rows: list[tuple[str, int, float, str]] = []
        by_sensor: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for record, rec in decoded:
            bad: dict[str, list[tuple[str, int, float]]] = defaultdict(list)
            for reading in rec.readings:
                sensor = sensors.get(reading[0])
                reason = _unusable_reason(reading, rec.org_id, sensor, oldest_us, newest_us)
                if reason is not None:
                    bad[reason].append(reading)
                    continue
                rows.append((reading[0], reading[1], reading[2], rec.org_id))
                by_sensor[reading[0]].append((reading[1], reading[2]))
            for reason, readings in bad.items():
                parks.append(self._park(replace_value(record, ReadingsRecord(rec.org_id, readings, rec.accepted_at)),
                                        reason))
                result.parked += len(readings)
        await asyncio.gather(*parks)  # parked (acked by Kafka) before the batch's offsets can be committed
        result.readings = len(rows)
        if rows:
            result.inserted = await self._store(rows, by_sensor, sensors)
        WRITTEN.inc(result.inserted)
        DUPLICATES.inc(result.readings - result.inserted)
        PARKED.inc(result.parked)
        return result

    async def _store(self, rows: list[tuple[str, int, float, str]], by_sensor: dict[str, list[tuple[int, float]]],
                     sensors: dict[str, SensorRef]) -> int:
        conn = await self._connection()
        days = {from_us(ts).date() for ts in (min(r[1] for r in rows), max(r[1] for r in rows))}
        first, last = min(days), max(days)
        wanted = {first + timedelta(days=i) for i in range((last - first).days + 1)} - self._days
        for day in sorted(wanted):
            await repo.ensure_partition(conn, day)
            self._days.add(day)
        await conn.execute("BEGIN; SELECT set_config('hearth.system', 'on', true)")
        try:
            await conn.copy_records_to_table("incoming", records=rows,
                                             columns=["sensor_id", "ts_us", "value", "org_id"])
            inserted = await conn.fetchval(repo.WRITE_BATCH)
            await evaluate_batch(conn, by_sensor, sensors, source=self.runtime.source)
        except BaseException:
            if not conn.is_closed():
                with contextlib.suppress(Exception):
                    await conn.execute("ROLLBACK")
            raise
        await conn.execute("COMMIT")
        return int(inserted)

    async def _park(self, record: Any, reason: str) -> None:
        dead_letters = self.runtime.dead_letters
        if dead_letters is None:
            log.error("unusable readings dropped (no dead-letter topic)", reason=reason)
            return
        await dead_letters.park(record, consumer=CONSUMER, reason=reason)


def replace_value(record: Any, rec: ReadingsRecord) -> Any:
    """The same Kafka record (topic, partition, offset, key, headers) carrying only `rec`."""
    return replace(record, value=rec.encode())


async def writer_job(runtime: TelemetryRuntime) -> None:
    """Background job: consume, write, commit — until cancelled."""
    settings = runtime.settings
    if not settings.writer_enabled:
        return
    writer = ReadingsWriter(runtime, sensor_cache(runtime))
    consumer = AIOKafkaConsumer(
        TELEMETRY_READINGS.name, bootstrap_servers=settings.kafka_bootstrap,
        group_id=f"{settings.db_schema}-writer", client_id=f"hearth-{settings.service_name}-writer",
        enable_auto_commit=False, auto_offset_reset=settings.writer_start, max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024, fetch_max_wait_ms=settings.writer_flush_ms)
    runtime.state.writer = writer
    ready = runtime.state.writer_ready
    await consumer.start()
    try:
        await _positioned(consumer)
        ready.set()
        while True:
            records = await _next_batch(consumer, settings)
            if not records:
                continue
            started = time.perf_counter()
            await writer.write(records)
            BATCH_SECONDS.set(time.perf_counter() - started)
            with contextlib.suppress(CommitFailedError):  # rebalanced: the batch comes again, harmlessly
                await consumer.commit()
    finally:
        with contextlib.suppress(KafkaError, Exception):
            await consumer.stop()
        await writer.close()


async def _positioned(consumer: AIOKafkaConsumer) -> None:
    """Join the group and resolve the start positions (so nothing produced from now on is skipped)."""
    while not consumer.assignment():  # aiokafka joins in the background once started  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    for tp in consumer.assignment():
        await consumer.position(tp)


async def _next_batch(consumer: AIOKafkaConsumer, settings: Settings) -> list[Any]:
    """Records until `writer_max_readings` (roughly) or `writer_flush_ms` after the first one."""
    loop = asyncio.get_running_loop()
    records: list[Any] = []
    size = 0
    deadline: float | None = None
    while True:
        wait_ms = 1000 if deadline is None else max(0, int((deadline - loop.time()) * 1000))
        fetched = await consumer.getmany(timeout_ms=wait_ms, max_records=2000)
        for batch in fetched.values():
            records.extend(batch)
            size += sum(len(r.value or b"") for r in batch)
        if records and deadline is None:
            deadline = loop.time() + settings.writer_flush_ms / 1000
        # ~40 bytes a reading on the wire: stop early once the batch is big enough.
        if records and (size >= settings.writer_max_readings * 40 or loop.time() >= (deadline or 0)):
            return records
        if not records and not fetched:
            return records
