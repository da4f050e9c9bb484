"""POST /v1/readings: validate each item, put the valid ones on Kafka (acks=all), answer 202 after the acks.

The body is parsed with orjson and checked item by item in one loop (no per-item model objects): at
tens of thousands of readings per second that loop is most of the request's cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from hearth_contracts.topics import TELEMETRY_READINGS
from hearth_kit.auth import Principal
from hearth_kit.messaging import producer_config
from hearth_kit.problems import Problem

from hearth_telemetry.domain import (
    MAX_BATCH,
    READINGS_CONTENT_TYPE,
    US_PER_S,
    BatchVerdict,
    ReadingsRecord,
    partition_for,
    validate_batch,
)
from hearth_telemetry.runtime import TelemetryRuntime
from hearth_telemetry.sensor_cache import SensorCache


class ReadingsProducer:
    """The ingest side's Kafka producer: one record per partition per batch, keyed by org."""

    def __init__(self, bootstrap: str, *, client_id: str) -> None:
        config = producer_config(bootstrap, client_id=client_id)
        config.update(max_batch_size=1024 * 1024, max_request_size=4 * 1024 * 1024, linger_ms=1)
        self._producer = AIOKafkaProducer(**config)
        self._partitions = TELEMETRY_READINGS.partitions
        self._started = False
        self._lock = asyncio.Lock()

    async def _ready(self) -> AIOKafkaProducer:
        if not self._started:
            async with self._lock:
                if not self._started:
                    await self._producer.start()
                    parts = await self._producer.partitions_for(TELEMETRY_READINGS.name)
                    self._partitions = len(parts) or TELEMETRY_READINGS.partitions
                    self._started = True
        return self._producer

    async def send(self, org_id: str, readings: list[tuple[str, int, float]]) -> None:
        """Put the readings on the topic (one record per partition) and wait for every ack."""
        producer = await self._ready()
        groups: dict[int, list[tuple[str, int, float]]] = {}
        for reading in readings:
            groups.setdefault(partition_for(reading[0], self._partitions), []).append(reading)
        accepted_at = time.time_ns() // 1000
        key = org_id.encode()
        headers = [("content-type", READINGS_CONTENT_TYPE)]
        futures = [
            await producer.send(TELEMETRY_READINGS.name, ReadingsRecord(org_id, group, accepted_at).encode(),
                                key=key, partition=partition, headers=headers)
            for partition, group in groups.items()
        ]
        await asyncio.gather(*futures)

    async def stop(self) -> None:
        if self._started:
            await self._producer.stop()
            self._started = False


@contextlib.asynccontextmanager
async def readings_producer(runtime: TelemetryRuntime) -> AsyncIterator[None]:
    """Resource: the producer (started on first use, so the HTTP side serves while Kafka is down)."""
    settings = runtime.settings
    producer = ReadingsProducer(settings.kafka_bootstrap, client_id=f"hearth-{settings.service_name}-ingest")
    runtime.state.producer = producer
    try:
        yield
    finally:
        await producer.stop()


def parse_body(raw: bytes) -> list[Any]:
    """The `readings` list of a body, or a 400/422 problem."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Problem(400, "Request body is not valid JSON", slug="malformed-json") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("readings"), list) or set(doc) - {"readings"}:
        raise Problem(422, "body must be {\"readings\": [...]}", slug="validation-error",
                      errors=[{"field": "readings", "message": "a list is required", "code": "missing"}])
    items: list[Any] = doc["readings"]
    if not 1 <= len(items) <= MAX_BATCH:
        raise Problem(422, f"a batch holds 1 to {MAX_BATCH} readings (got {len(items)})", slug="validation-error",
                      errors=[{"field": "readings", "message": f"1..{MAX_BATCH} items", "code": "too_long"}])
    return items


async def ingest(runtime: TelemetryRuntime, cache: SensorCache, *, principal: Principal, raw: bytes,
                 oldest_days: int) -> dict[str, Any]:
    """Validate, publish, and report per index."""
    principal.require_write()
    settings = runtime.settings
    items = parse_body(raw)
    now_us = time.time_ns() // 1000
    oldest_us = now_us - oldest_days * 86_400 * US_PER_S
    future_us = int(settings.max_future_seconds * US_PER_S)

    async def check(max_age: float | None) -> BatchVerdict:
        sensors = await cache.org(principal.org_id, max_age=max_age)
        return validate_batch(items, by_id=sensors.by_id.get, by_external=sensors.by_external.get,
                              now_us=now_us, oldest_us=oldest_us, max_future_us=future_us)

    verdict = await check(None)
    if any(e["reason"] == "unknown sensor" for e in verdict.errors):
        verdict = await check(0.2)  # registered a moment ago, maybe on another replica
    if not verdict.accepted:
        raise Problem(422, "no reading in the batch is valid", slug="validation-error",
                      errors=[{"field": f"readings.{e['index']}", "message": e["reason"], "code": "invalid",
                               **e} for e in verdict.errors[:1000]])
    producer = runtime.state.producer
    assert producer is not None, "the producer resource is not running"
    try:
        await asyncio.wait_for(producer.send(principal.org_id, verdict.accepted), timeout=15)
    except Exception as exc:
        raise Problem(503, "readings could not be stored right now; retry the batch", slug="unavailable",
                      headers={"Retry-After": "1"}) from exc
    return {"accepted": len(verdict.accepted), "rejected": len(verdict.errors), "errors": verdict.errors}
