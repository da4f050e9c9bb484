"""The writer: consumes `telemetry.readings` in batches and stores them with COPY, idempotently.

Per batch (whatever has arrived while the previous one was written, up to a size): decode the records (an
unusable record, or the unusable readings of one, go to `telemetry.readings.dlt` with the reason), then
store them one of two ways:

- the fast path (almost every batch): COPY straight into the day partitions, and note in
  `unrolled_batches` (same transaction) which Kafka records the readings came from. The readings are
  queryable once it commits. Their minute rollups, last values and alert episodes follow in a *roll*,
  every `writer_roll_ms`, for all batches stored since the last one, on a second connection while the
  next batches are stored: per batch they cost as much as the COPY (one rollup row and one last-value
  row per sensor touched, however few readings each has), per roll once. The roll deletes the
  batches' `unrolled_batches` rows in its transaction; the Kafka offsets are committed after it.
- the careful path, when a reading is stored already (a redelivery, a device resending) and breaks the
  partition's primary key: the fast transaction rolls back, owed rolls are done, and in one transaction
  a statement inserts only the new readings (`ON CONFLICT DO NOTHING` on (sensor, ts)) and rolls up
  those, plus the readings of records a writer stored and died before rolling up (their
  `unrolled_batches` rows, claimed in that transaction); alert episodes advance.

A writer killed anywhere sees its records again (offsets are committed after the roll): what it stored
is not stored twice, and what it owed is rolled up once, by whoever claims the row. `writer_tasks`
consumers of one group run side by side (each with its own partitions and connections), so one decodes
while the other waits for Postgres.

COPY goes to the partitions rather than to `readings` because Postgres refuses COPY FROM into a table
with row-level security; the rows carry their org and are read back through `readings`, whose policy
applies.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from hearth_contracts.topics import TELEMETRY_READINGS
from hearth_kit.db import init_connection
from hearth_kit.logging import get_logger
from prometheus_client import Counter, Gauge

from hearth_telemetry import repository as repo
from hearth_telemetry.alerts import evaluate_batch
from hearth_telemetry.copy_binary import COLUMNS as COPY_COLUMNS
from hearth_telemetry.copy_binary import encode_readings, number_array, text_array
from hearth_telemetry.domain import (
    BINARY_KINDS,
    PHYSICAL_RANGE,
    US_PER_DAY,
    US_PER_S,
    ReadingsRecord,
    SensorRef,
    UnusableRecord,
    decode_record,
    from_us,
    latest_readings,
    minute_rollups,
)

if TYPE_CHECKING:
    from hearth_telemetry.runtime import TelemetryRuntime

log = get_logger(__name__)

WRITTEN = Counter("hearth_telemetry_readings_written_total", "Readings inserted (new rows)")
DUPLICATES = Counter("hearth_telemetry_readings_duplicate_total", "Readings skipped as already stored")
PARKED = Counter("hearth_telemetry_readings_parked_total", "Readings sent to the dead-letter topic")
CAREFUL = Counter("hearth_telemetry_writer_careful_batches_total",
                  "Batches stored through the deduplicating path (some reading was stored already)")
BATCH_SECONDS = Gauge("hearth_telemetry_writer_last_batch_seconds", "Duration of the last written batch")
ROLL_SECONDS = Gauge("hearth_telemetry_writer_last_roll_seconds", "Duration of the last roll-up")
OWED = Gauge("hearth_telemetry_writer_owed_pieces",
             "Stored batches (per Kafka partition) whose rollups, last values and alerts are still to be rolled up")
CONSUMER = "telemetry-writer"


@dataclass
class WriteResult:
    readings: int = 0
    inserted: int = 0
    parked: int = 0


@dataclass(frozen=True)
class _Limits:
    """What a usable reading of one sensor must respect (worked out once per sensor and record)."""

    low: float
    high: float
    binary: bool
    kind: str


def _limits(sensor: SensorRef | None, org_id: str) -> _Limits | str:
    """The sensor's limits, or why none of its readings in this org's record can be stored."""
    if sensor is None or sensor.org_id != org_id:
        return "unknown sensor"
    if not sensor.active:
        return "sensor is retired"
    low, high = PHYSICAL_RANGE[sensor.kind]
    return _Limits(low, high, sensor.kind in BINARY_KINDS, sensor.kind)


@dataclass
class _Piece:
    """The records of one batch from one Kafka partition, stored raw, which the next roll owes its rollups.

    `by_sensor` is None when there is nothing to roll up (the careful path rolled it up at once, or no
    reading in it was usable): the piece only moves the partition's committed offset."""

    topic: str
    partition: int
    first_offset: int
    last_offset: int
    by_sensor: dict[str, list[tuple[int, float]]] | None
    sensors: dict[str, SensorRef]


@dataclass
class _Span:
    """Where one record's usable readings sit in a batch's rows."""

    topic: str
    partition: int
    offset: int
    start: int
    end: int


Commit = Callable[[dict[TopicPartition, int]], Awaitable[None]]


class ReadingsWriter:
    """Stores batches of readings raw at once and rolls them up in the background.

    Holds two connections: one for the raw rows (its session temp table lives there) and one for the
    rolls, so a roll never delays the next batch's COPY. `commit` receives the Kafka offsets a roll made
    safe to commit (none when the caller commits, as tests and the bench do).
    """

    def __init__(self, runtime: TelemetryRuntime, *, commit: Commit | None = None) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.cache = runtime.state.sensor_cache
        self._commit = commit
        self._conn: asyncpg.Connection | None = None
        self._roll_conn: asyncpg.Connection | None = None
        self._days: set[date] = set()
        self._pending: list[_Piece] = []
        self._pending_since: float | None = None
        self._rolling: asyncio.Task[None] | None = None

    async def _connect(self) -> asyncpg.Connection:
        conn = await asyncpg.connect(self.runtime.db.dsn, server_settings={
            "search_path": self.runtime.db.schema, "application_name": "hearth-telemetry-writer"})
        await init_connection(conn)
        return conn

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            conn = await self._connect()
            await conn.execute(repo.INCOMING_TABLE)
            self._conn = conn
        return self._conn

    async def _roll_connection(self) -> asyncpg.Connection:
        if self._roll_conn is None or self._roll_conn.is_closed():
            self._roll_conn = await self._connect()
        return self._roll_conn

    async def close(self) -> None:
        """Drop the connections. What was not rolled up stays owed (its rows in `unrolled_batches`)."""
        if self._rolling is not None:
            self._rolling.cancel()
            with contextlib.suppress(BaseException):
                await self._rolling
            self._rolling = None
        OWED.dec(len(self._take_pending()))
        for conn in (self._conn, self._roll_conn):
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()
        self._conn = self._roll_conn = None

    # ------------------------------------------------------------------ storing raw readings

    async def write(self, records: list[Any]) -> WriteResult:
        """Store a batch of Kafka records raw (all or nothing, queryable on return); park what cannot be
        used. Their rollups, last values and alert episodes follow with a later roll."""
        result = WriteResult()
        decoded: list[tuple[Any, ReadingsRecord]] = []
        parks: list[Coroutine[Any, Any, None]] = []  # sent together: a flood of bad records is one round trip
        for record in records:
            try:
                decoded.append((record, decode_record(record.value)))
            except UnusableRecord as exc:
                parks.append(self._park(record, str(exc)))
                result.parked += 1
        sensors = await self.cache.by_ids(self.runtime.db, {r[0] for _, rec in decoded for r in rec.readings})
        now_us = time.time_ns() // 1000
        oldest_us = now_us - 400 * 86_400 * US_PER_S  # retention proper is the maintenance job's business
        newest_us = now_us + int(self.settings.max_future_seconds * US_PER_S) + 60 * US_PER_S
        rows: list[tuple[str, int, float, str]] = []
        spans: list[_Span] = []
        by_part: dict[tuple[str, int], dict[str, list[tuple[int, float]]]] = {}
        for record, rec in decoded:
            bad: dict[str, list[tuple[str, int, float]]] = defaultdict(list)
            org_id = rec.org_id
            limits_of: dict[str, _Limits | str] = {}
            by_sensor = by_part.setdefault((record.topic, record.partition), defaultdict(list))
            start = len(rows)
            for reading in rec.readings:  # the hottest loop of the writer: keep it flat
                sensor_id, ts, value = reading
                limits = limits_of.get(sensor_id)
                if limits is None:
                    limits = limits_of[sensor_id] = _limits(sensors.get(sensor_id), org_id)
                if isinstance(limits, str):
                    bad[limits].append(reading)
                elif not oldest_us <= ts <= newest_us:
                    bad["timestamp outside the stored range"].append(reading)
                elif not limits.low <= value <= limits.high or (limits.binary and value not in (0.0, 1.0)):
                    bad[f"value out of range for {limits.kind}"].append(reading)
                else:
                    rows.append((sensor_id, ts, value, org_id))
                    by_sensor[sensor_id].append((ts, value))
            spans.append(_Span(record.topic, record.partition, record.offset, start, len(rows)))
            for reason, readings in bad.items():
                parks.append(self._park(replace_value(record, ReadingsRecord(rec.org_id, readings, rec.accepted_at)),
                                        reason))
                result.parked += len(readings)
        await asyncio.gather(*parks)  # parked (acked by Kafka) before the batch's offsets can be committed
        result.readings = len(rows)
        pieces = _pieces(records, by_part, sensors)
        if rows:
            result.inserted = await self._store(rows, spans, pieces)
        else:
            self._owe([replace(p, by_sensor=None) for p in pieces])
        WRITTEN.inc(result.inserted)
        DUPLICATES.inc(result.readings - result.inserted)
        PARKED.inc(result.parked)
        return result

    async def _store(self, rows: list[tuple[str, int, float, str]], spans: list[_Span], pieces: list[_Piece]) -> int:
        conn = await self._connection()
        await self._ensure_partitions(conn, rows)
        marked = [p for p in pieces if p.by_sensor]
        try:
            async with _transaction(conn):
                await self._copy_new(conn, rows)
                await conn.execute(repo.MARK_UNROLLED, [p.topic for p in marked], [p.partition for p in marked],
                                   [p.first_offset for p in marked], [p.last_offset for p in marked])
        except asyncpg.UniqueViolationError:
            CAREFUL.inc()
            # The rolls owed for earlier batches first, so that alert episodes see readings in order.
            await self.flush()
            inserted = await self._store_carefully(conn, rows, spans, pieces)
            self._owe([replace(p, by_sensor=None) for p in pieces])
            return inserted
        self._owe(pieces)
        return len(rows)

    async def _ensure_partitions(self, conn: asyncpg.Connection, rows: list[tuple[str, int, float, str]]) -> None:
        days = {from_us(ts).date() for ts in (min(r[1] for r in rows), max(r[1] for r in rows))}
        first, last = min(days), max(days)
        wanted = {first + timedelta(days=i) for i in range((last - first).days + 1)} - self._days
        for day in sorted(wanted):
            await repo.ensure_partition(conn, day)
            self._days.add(day)

    async def _copy_new(self, conn: asyncpg.Connection, rows: list[tuple[str, int, float, str]]) -> None:
        """COPY every reading into its day's partition (a reading stored already fails the whole COPY)."""
        by_day: dict[int, list[tuple[str, int, float, str]]] = defaultdict(list)
        for row in rows:
            by_day[row[1] // US_PER_DAY].append(row)
        for day, day_rows in by_day.items():
            await conn.copy_to_table(repo.partition_name(from_us(day * US_PER_DAY)),
                                     source=_once(encode_readings(day_rows)), columns=COPY_COLUMNS, format="binary")

    async def _store_carefully(self, conn: asyncpg.Connection, rows: list[tuple[str, int, float, str]],
                               spans: list[_Span], pieces: list[_Piece]) -> int:
        """The careful path, in one transaction: only readings not stored yet are inserted and rolled up,
        with those a dead writer stored and still owed (claimed from `unrolled_batches`); alerts advance."""
        by_sensor, sensors = _merged(pieces)
        async with _transaction(conn):
            claimed = await conn.fetch(repo.CLAIM_UNROLLED, [p.topic for p in pieces], [p.partition for p in pieces],
                                       [p.first_offset for p in pieces], [p.last_offset for p in pieces])
            owed = {(r["topic"], r["kafka_partition"]): (r["first_offset"], r["last_offset"]) for r in claimed}
            incoming: list[tuple[str, int, float, str, bool]] = []
            for span in spans:
                lo, hi = owed.get((span.topic, span.partition), (1, 0))
                covered = lo <= span.offset <= hi
                incoming.extend((*row, covered) for row in rows[span.start:span.end])
            await conn.copy_records_to_table("incoming", records=incoming,
                                             columns=["sensor_id", "ts_us", "value", "org_id", "covered"])
            inserted = int(await conn.fetchval(repo.WRITE_BATCH))
            await evaluate_batch(conn, by_sensor, sensors, source=self.runtime.source)
        return inserted

    # ------------------------------------------------------------------ rolling up

    def _owe(self, pieces: list[_Piece]) -> None:
        OWED.inc(len(pieces))
        if pieces and self._pending_since is None:
            self._pending_since = time.monotonic()
        self._pending.extend(pieces)

    def roll_wait(self) -> float:
        """Seconds until a roll is due (how long the consumer may wait for records meanwhile)."""
        if self._pending_since is None:
            return 1.0
        return max(0.0, self._pending_since + self.settings.writer_roll_ms / 1000 - time.monotonic())

    async def roll_if_due(self) -> None:
        """Start a roll in the background if the oldest owed batch has waited `writer_roll_ms` and none
        is running; raise what a finished roll raised (the job restarts and the batches come again)."""
        if self._rolling is not None and self._rolling.done():
            rolling, self._rolling = self._rolling, None
            rolling.result()
        if self._rolling is None and self._pending and self.roll_wait() == 0:
            self._rolling = asyncio.create_task(self._roll(self._take_pending()))

    async def flush(self) -> None:
        """Roll up everything owed now (waiting for a running roll first)."""
        if self._rolling is not None:
            rolling, self._rolling = self._rolling, None
            await rolling
        if self._pending:
            await self._roll(self._take_pending())

    def _take_pending(self) -> list[_Piece]:
        pieces, self._pending, self._pending_since = self._pending, [], None
        return pieces

    async def _roll(self, pieces: list[_Piece]) -> None:
        """Merge the pieces' minute rollups and last values, advance alert episodes, in one transaction
        that also deletes their `unrolled_batches` rows; then commit their Kafka offsets."""
        started = time.perf_counter()
        try:
            lost = await self._roll_up(pieces)
        except BaseException:
            # Owed again, first in line: a later roll (or the flush when the job stops) retries them, and no
            # offset is committed past them meanwhile (their `unrolled_batches` rows were rolled back).
            self._pending[:0] = pieces
            self._pending_since = self._pending_since or time.monotonic()
            raise
        ROLL_SECONDS.set(time.perf_counter() - started)
        OWED.dec(len(pieces))
        if self._commit is not None:
            # A partition with a batch claimed by another writer (or by this one, given its records again)
            # is not committed: its records are being stored again and commit their own offsets.
            offsets: dict[TopicPartition, int] = {}
            for p in pieces:
                if (p.topic, p.partition) not in lost:
                    tp = TopicPartition(p.topic, p.partition)
                    offsets[tp] = max(offsets.get(tp, 0), p.last_offset + 1)
            if offsets:
                await self._commit(offsets)

    async def _roll_up(self, pieces: list[_Piece]) -> set[tuple[str, int]]:
        """The roll's transaction; returns the partitions with a batch another writer claimed."""
        conn = await self._roll_connection()
        marked = [p for p in pieces if p.by_sensor is not None]
        lost: set[tuple[str, int]] = set()
        async with _transaction(conn):
            if marked:
                kept = {(r["topic"], r["kafka_partition"], r["first_offset"]) for r in await conn.fetch(
                    repo.UNMARK_ROLLED, [p.topic for p in marked], [p.partition for p in marked],
                    [p.first_offset for p in marked])}
                lost = {(p.topic, p.partition) for p in marked if (p.topic, p.partition, p.first_offset) not in kept}
                by_sensor, sensors = _merged(p for p in marked if (p.topic, p.partition, p.first_offset) in kept)
                if by_sensor:
                    await self._merge_rollups(conn, by_sensor, sensors)
                    await evaluate_batch(conn, by_sensor, sensors, source=self.runtime.source)
        return lost

    async def _merge_rollups(self, conn: asyncpg.Connection, by_sensor: dict[str, list[tuple[int, float]]],
                             sensors: dict[str, SensorRef]) -> None:
        rollups = minute_rollups(by_sensor)
        sums = rollups.values()
        await conn.execute(
            repo.MERGE_ROLLUPS, text_array(k[0] for k in rollups), number_array(k[1] for k in rollups),
            text_array(sensors[k[0]].org_id for k in rollups), number_array(r.n for r in sums),
            number_array(r.total for r in sums), number_array(r.min_value for r in sums),
            number_array(r.max_value for r in sums), number_array(r.last_ts for r in sums),
            number_array(r.last_value for r in sums))
        latest = latest_readings(by_sensor)
        await conn.execute(repo.MERGE_LATEST, text_array(latest), text_array(sensors[s].org_id for s in latest),
                           number_array(p[0] for p in latest.values()), number_array(p[1] for p in latest.values()))

    async def _park(self, record: Any, reason: str) -> None:
        dead_letters = self.runtime.dead_letters
        if dead_letters is None:
            log.error("unusable readings dropped (no dead-letter topic)", reason=reason)
            return
        await dead_letters.park(record, consumer=CONSUMER, reason=reason)


def _pieces(records: list[Any], by_part: dict[tuple[str, int], dict[str, list[tuple[int, float]]]],
            sensors: dict[str, SensorRef]) -> list[_Piece]:
    """One piece per (topic, partition) of the batch, spanning its records' offsets."""
    spans: dict[tuple[str, int], tuple[int, int]] = {}
    for record in records:
        key = (record.topic, record.partition)
        lo, hi = spans.get(key, (record.offset, record.offset))
        spans[key] = (min(lo, record.offset), max(hi, record.offset))
    return [_Piece(topic, partition, lo, hi, by_part.get((topic, partition)) or None, sensors)
            for (topic, partition), (lo, hi) in spans.items()]


def _merged(pieces: Iterable[_Piece]) -> tuple[dict[str, list[tuple[int, float]]], dict[str, SensorRef]]:
    by_sensor: dict[str, list[tuple[int, float]]] = defaultdict(list)
    sensors: dict[str, SensorRef] = {}
    for piece in pieces:
        sensors.update(piece.sensors)
        for sensor_id, points in (piece.by_sensor or {}).items():
            by_sensor[sensor_id].extend(points)
    return by_sensor, sensors


@contextlib.asynccontextmanager
async def _transaction(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """A transaction across orgs (the writer works for every org): rolled back if the body raises."""
    await conn.execute("BEGIN; SELECT set_config('hearth.system', 'on', true)")
    try:
        yield
    except BaseException:
        if not conn.is_closed():
            with contextlib.suppress(Exception):
                await conn.execute("ROLLBACK")
        raise
    await conn.execute("COMMIT")


async def _once(payload: bytes) -> AsyncIterator[bytes]:
    """The payload as the async iterable asyncpg streams from (a file-like one is read in a thread)."""
    yield payload


def replace_value(record: Any, rec: ReadingsRecord) -> Any:
    """The same Kafka record (topic, partition, offset, key, headers) carrying only `rec`."""
    return replace(record, value=rec.encode())


async def writer_job(runtime: TelemetryRuntime) -> None:
    """Background job: `writer_tasks` consumers of the writer group, each consuming, writing, rolling up."""
    settings = runtime.settings
    if not settings.writer_enabled:
        return
    consumers = [AIOKafkaConsumer(
        TELEMETRY_READINGS.name, bootstrap_servers=settings.kafka_bootstrap,
        group_id=f"{settings.db_schema}-writer", client_id=f"hearth-{settings.service_name}-writer-{n}",
        enable_auto_commit=False, auto_offset_reset=settings.writer_start, max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024, fetch_max_wait_ms=settings.writer_flush_ms)
        for n in range(max(1, min(settings.writer_tasks, TELEMETRY_READINGS.partitions)))]
    writers = [ReadingsWriter(runtime, commit=_committer(consumer)) for consumer in consumers]
    try:
        for consumer in consumers:
            await consumer.start()
        await _positioned(consumers)
        runtime.state.writer_ready.set()
        await asyncio.gather(*(_consume(consumer, writer, settings.writer_max_readings)
                               for consumer, writer in zip(consumers, writers, strict=True)))
    finally:
        for consumer, writer in zip(consumers, writers, strict=True):
            # What is owed gets rolled up now if it can be quickly; otherwise the records come again after
            # the restart and the careful path rolls them up.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.flush(), timeout=5)
            with contextlib.suppress(KafkaError, Exception):
                await consumer.stop()
            await writer.close()


def _committer(consumer: AIOKafkaConsumer) -> Commit:
    async def commit(offsets: dict[TopicPartition, int]) -> None:
        mine = consumer.assignment()
        offsets = {tp: offset for tp, offset in offsets.items() if tp in mine}
        if offsets:
            # rebalanced meanwhile: the records come again, harmlessly
            with contextlib.suppress(CommitFailedError, IllegalStateError):
                await consumer.commit(offsets)
    return commit


async def _consume(consumer: AIOKafkaConsumer, writer: ReadingsWriter, max_readings: int) -> None:
    while True:
        records = await _next_batch(consumer, max_readings, wait=writer.roll_wait())
        if records:
            started = time.perf_counter()
            await writer.write(records)
            BATCH_SECONDS.set(time.perf_counter() - started)
        await writer.roll_if_due()


async def _positioned(consumers: list[AIOKafkaConsumer]) -> None:
    """Join the group, wait until each consumer has its share of partitions, and pin the start positions.

    With a new group, a partition that moved between consumers in a later rebalance would start again
    from `writer_start`; committing the positions at once prevents that.
    """
    while not all(c.assignment() for c in consumers):  # aiokafka joins in the background once started  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    for consumer in consumers:
        positions = {tp: await consumer.position(tp) for tp in consumer.assignment()}
        with contextlib.suppress(CommitFailedError):
            await consumer.commit(positions)


async def _next_batch(consumer: AIOKafkaConsumer, max_readings: int, *, wait: float) -> list[Any]:
    """What has arrived, up to `writer_max_readings` (roughly): records prefetched while the previous batch
    was written, or the first to arrive within `wait` seconds (until the next roll is due).

    No batch waits to fill. It used to linger `writer_flush_ms` after its first record: at half the
    maximum rate that wait, plus the bigger and slower write it made, put accepted → queryable at p50
    490 / p99 1,040 ms. Now a batch is as big as the load makes it, and an idle writer writes at once.
    """
    records: list[Any] = []
    size = 0
    timeout_ms = max(1, int(wait * 1000))
    while True:
        fetched = await consumer.getmany(timeout_ms=timeout_ms, max_records=2000)
        for batch in fetched.values():
            records.extend(batch)
            size += sum(len(r.value or b"") for r in batch)
        # ~20 bytes a reading in the binary form (~45 in JSON): stop once the batch is big enough.
        if not fetched or size >= max_readings * 20:
            return records
        timeout_ms = 0  # only what is buffered already
