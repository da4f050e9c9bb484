"""POST /v1/readings: validate each item, put the valid ones on Kafka (acks=all), answer 202 after the acks.

The body is parsed with orjson and checked item by item in one loop (no per-item model objects): at
tens of thousands of readings per second that loop is most of the request's cost.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import orjson
from aiokafka import AIOKafkaProducer
from hearth_contracts.topics import TELEMETRY_READINGS
from hearth_kit.errors import BadRequest, InvalidInput
from hearth_kit.messaging import producer_config

from hearth_telemetry.domain import (
    MAX_BATCH,
    READINGS_BINARY_CONTENT_TYPE,
    US_PER_S,
    BatchVerdict,
    ReadingsRecord,
    partition_for,
    validate_batch,
)

if TYPE_CHECKING:
    from hearth_telemetry.runtime import TelemetryRuntime


class ReadingsProducer:
    """The ingest side's Kafka producer: one record per partition per batch, keyed by org."""

    def __init__(self, bootstrap: str, *, client_id: str) -> None:
        self._config = producer_config(bootstrap, client_id=client_id)
        self._config.update(max_batch_size=1024 * 1024, max_request_size=4 * 1024 * 1024, linger_ms=1)
        self._producer: AIOKafkaProducer | None = None  # made on first use: it needs the running loop
        self._partitions = TELEMETRY_READINGS.partitions
        self._lock: asyncio.Lock | None = None

    async def _ready(self) -> AIOKafkaProducer:
        if self._producer is None:
            self._lock = self._lock or asyncio.Lock()
            async with self._lock:
                if self._producer is None:
                    producer = AIOKafkaProducer(**self._config)
                    await producer.start()
                    try:
                        parts = await producer.partitions_for(TELEMETRY_READINGS.name)
                    except BaseException:
                        await producer.stop()
                        raise
                    self._partitions = len(parts) or TELEMETRY_READINGS.partitions
                    self._producer = producer
        return self._producer

    async def send(self, org_id: str, readings: list[tuple[str, int, float]]) -> None:
        """Put the readings on the topic (one record per partition) and wait for every ack."""
        producer = await self._ready()
        groups: dict[int, list[tuple[str, int, float]]] = {}
        partition_of: dict[str, int] = {}  # a batch repeats few sensors many times
        for reading in readings:
            sensor_id = reading[0]
            partition = partition_of.get(sensor_id)
            if partition is None:
                partition = partition_of[sensor_id] = partition_for(sensor_id, self._partitions)
            groups.setdefault(partition, []).append(reading)
        accepted_at = time.time_ns() // 1000
        key = org_id.encode()
        headers = [("content-type", READINGS_BINARY_CONTENT_TYPE)]
        futures = [
            await producer.send(TELEMETRY_READINGS.name, ReadingsRecord(org_id, group, accepted_at).encode_binary(),
                                key=key, partition=partition, headers=headers)
            for partition, group in groups.items()
        ]
        await asyncio.gather(*futures)

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()


class ReadingsUnavailable(Exception):
    """Kafka did not take the batch in time: nothing was accepted (the API answers 503, retry)."""


def parse_body(raw: bytes) -> list[Any]:
    """The `readings` list of a body (BadRequest / InvalidInput otherwise)."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest("Request body is not valid JSON", code="malformed-json") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("readings"), list) or set(doc) - {"readings"}:
        raise InvalidInput("body must be {\"readings\": [...]}",
                           errors=[{"field": "readings", "message": "a list is required", "code": "missing"}])
    items: list[Any] = doc["readings"]
    if not 1 <= len(items) <= MAX_BATCH:
        raise InvalidInput(f"a batch holds 1 to {MAX_BATCH} readings (got {len(items)})",
                           errors=[{"field": "readings", "message": f"1..{MAX_BATCH} items", "code": "too_long"}])
    return items


async def ingest(runtime: TelemetryRuntime, *, org_id: str, raw: bytes, oldest_days: int) -> dict[str, Any]:
    """Validate, publish, and report per index (the caller has checked that it may write)."""
    settings = runtime.settings
    cache = runtime.state.sensor_cache
    items = parse_body(raw)
    now_us = time.time_ns() // 1000
    oldest_us = now_us - oldest_days * 86_400 * US_PER_S
    future_us = int(settings.max_future_seconds * US_PER_S)

    async def check(max_age: float | None) -> BatchVerdict:
        sensors = await cache.org(runtime.db, org_id, max_age=max_age)
        return validate_batch(items, by_id=sensors.by_id.get, by_external=sensors.by_external.get,
                              now_us=now_us, oldest_us=oldest_us, max_future_us=future_us)

    verdict = await check(None)
    if any(e["reason"] == "unknown sensor" for e in verdict.errors):
        verdict = await check(0.2)  # registered a moment ago, maybe on another replica
    if not verdict.accepted:
        raise InvalidInput("no reading in the batch is valid",
                           errors=[{"field": f"readings.{e['index']}", "message": e["reason"], "code": "invalid",
                                    **e} for e in verdict.errors[:1000]])
    try:
        await asyncio.wait_for(runtime.state.producer.send(org_id, verdict.accepted), timeout=15)
    except Exception as exc:
        raise ReadingsUnavailable("readings could not be stored right now; retry the batch") from exc
    return {"accepted": len(verdict.accepted), "rejected": len(verdict.errors), "errors": verdict.errors}
