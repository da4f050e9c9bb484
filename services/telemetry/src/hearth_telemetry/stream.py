"""The live stream: readings from Kafka, fanned out to WebSocket subscribers of their org.

One reader per process follows `telemetry.readings` from its end (no consumer group: every replica
sees everything). A record's key is its org id, so records of orgs nobody watches are skipped without
being decoded. Each subscriber has a bounded queue; one that falls `stream_queue_max` messages behind
is closed with code 4008 instead of slowing the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from hearth_contracts.topics import TELEMETRY_READINGS
from hearth_kit.db import Database
from hearth_kit.logging import get_logger

from hearth_telemetry.domain import UnusableRecord, decode_record, from_us, iso
from hearth_telemetry.sensor_cache import SensorCache

log = get_logger(__name__)

SLOW_CLIENT_CLOSE = 4008


@dataclass(eq=False)
class Subscriber:
    org_id: str
    sensor_id: str | None = None
    building_id: str | None = None
    kind: str | None = None
    queue: asyncio.Queue[bytes] = field(default_factory=lambda: asyncio.Queue(maxsize=1000))
    too_slow: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def needs_sensor_info(self) -> bool:
        return self.building_id is not None or self.kind is not None

    @property
    def needle(self) -> bytes:
        """How this subscriber's sensor id appears in a record's bytes (a JSON string in both forms)."""
        return b'"' + (self.sensor_id or "").encode() + b'"'


class StreamHub:
    def __init__(self, bootstrap: str, cache: SensorCache, *, queue_max: int) -> None:
        self._bootstrap = bootstrap
        self._cache = cache
        self._queue_max = queue_max
        self._subs: dict[str, set[Subscriber]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._lock = asyncio.Lock()
        self._db: Database | None = None

    async def subscribe(self, sub: Subscriber, db: Database) -> None:
        """Register a subscriber; returns once the reader is positioned (later readings reach it).
        `db` answers the sensor lookups of building and kind filters."""
        self._db = db
        sub.queue = asyncio.Queue(maxsize=self._queue_max)
        async with self._lock:
            if self._task is None or self._task.done():
                self._ready.clear()
                self._task = asyncio.create_task(self._run(), name="telemetry-stream")
        self._subs[sub.org_id].add(sub)
        await asyncio.wait_for(self._ready.wait(), timeout=30)

    def unsubscribe(self, sub: Subscriber) -> None:
        subs = self._subs.get(sub.org_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                self._subs.pop(sub.org_id, None)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _run(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False,
                                    client_id="hearth-telemetry-stream", fetch_max_wait_ms=20)
        await consumer.start()
        try:
            parts: set[int] | None = None
            for _ in range(100):
                parts = consumer.partitions_for_topic(TELEMETRY_READINGS.name)
                if parts:
                    break
                # `partitions_for_topic` reads the client's cached metadata; the public `topics()` fetches a
                # copy without updating that cache, so the refresh has to go through the client.
                await consumer._client.force_metadata_update()
                await asyncio.sleep(0.1)
            tps = [TopicPartition(TELEMETRY_READINGS.name, p) for p in sorted(parts or ())]
            consumer.assign(tps)
            await consumer.seek_to_end(*tps)
            for tp in tps:
                await consumer.position(tp)
            self._ready.set()
            while True:
                fetched = await consumer.getmany(timeout_ms=500, max_records=5000)
                for records in fetched.values():
                    for record in records:
                        await self._dispatch(record)
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def _dispatch(self, record: Any) -> None:
        org_id = (record.key or b"").decode(errors="replace")
        subs = self._subs.get(org_id)
        if not subs:
            return
        raw = record.value or b""
        # Subscribers that each watch one sensor cost only the records carrying one of their sensors: the
        # id is looked for in the bytes (C speed) before the record is decoded. (A JSON record with
        # escaped characters could spell an id differently: those are always decoded.)
        if all(s.sensor_id is not None for s in subs) and b"\\u" not in raw \
                and not any(s.needle in raw for s in subs):
            return
        try:
            rec = decode_record(record.value)
        except UnusableRecord:
            return
        if rec.org_id != org_id:
            return
        sensors = {}
        if self._db is not None and any(s.needs_sensor_info for s in subs):
            sensors = await self._cache.by_ids(self._db, {r[0] for r in rec.readings})
        for sub in list(subs):
            picked = [r for r in rec.readings if _matches(sub, r[0], sensors)]
            if not picked:
                continue
            message = orjson.dumps({
                "type": "readings", "accepted_at": iso(from_us(rec.accepted_at)) if rec.accepted_at else None,
                "data": [{"sensor_id": s, "ts": iso(from_us(ts)), "value": v} for s, ts, v in picked]})
            try:
                sub.queue.put_nowait(message)
            except asyncio.QueueFull:
                log.warning("stream subscriber too slow; closing it", org_id=sub.org_id)
                sub.too_slow.set()
                self.unsubscribe(sub)


def _matches(sub: Subscriber, sensor_id: str, sensors: dict[str, Any]) -> bool:
    if sub.sensor_id is not None and sensor_id != sub.sensor_id:
        return False
    if sub.needs_sensor_info:
        sensor = sensors.get(sensor_id)
        if sensor is None:
            return False
        if sub.building_id is not None and sensor.building_id != sub.building_id:
            return False
        if sub.kind is not None and sensor.kind != sub.kind:
            return False
    return True


def heartbeat() -> bytes:
    return orjson.dumps({"type": "heartbeat", "ts": iso(from_us(time.time_ns() // 1000))})
