"""`auth.events` → the identity cache, on every replica.

Each replica reads every partition itself (no consumer group), starting at the end: a revocation must
reach all replicas, not one member of a group, and there is nothing to replay at start (the cache is
empty and misses ask auth-token). After any restart of this loop the cached identities are dropped,
because events may have been missed while it was down.
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition
from hearth_contracts.envelope import parse_cloudevent
from hearth_contracts.topics import AUTH_EVENTS
from hearth_kit.logging import get_logger
from hearth_kit.runtime import BackgroundJob, Runtime

from hearth_gateway.service import Gateway

log = get_logger(__name__)


def auth_events_consumer(gateway: Gateway) -> BackgroundJob:
    """The background job that applies auth events to `gateway`'s cache."""

    async def consume_auth_events(runtime: Runtime) -> None:
        runtime.consumers_ready = False
        gateway.events_ready.clear()
        consumer = AIOKafkaConsumer(bootstrap_servers=runtime.settings.kafka_bootstrap, group_id=None,
                                    enable_auto_commit=False, auto_offset_reset="latest",
                                    client_id="hearth-gateway-auth-events")
        await consumer.start()
        try:
            partitions = await _partitions(consumer, AUTH_EVENTS.name)
            tps = [TopicPartition(AUTH_EVENTS.name, p) for p in sorted(partitions)]
            consumer.assign(tps)
            await consumer.seek_to_end(*tps)
            for tp in tps:  # pin "now" so nothing published after readiness is skipped
                await consumer.position(tp)
            gateway.identities.forget_positive()
            runtime.consumers_ready = True
            gateway.events_ready.set()
            log.info("auth.events consumer ready", partitions=len(tps))
            while True:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    for record in records:
                        try:
                            gateway.apply_auth_event(parse_cloudevent(record.value))
                        except ValueError as exc:
                            log.error("skipping malformed auth event", error=str(exc))
        finally:
            runtime.consumers_ready = False
            gateway.events_ready.clear()
            await consumer.stop()

    return consume_auth_events


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    for _ in range(100):
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return set(parts)
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.1)
    raise TimeoutError(f"topic {topic} has no partitions")


def rate_counter_pruner(gateway: Gateway, *, every_seconds: float = 600) -> BackgroundJob:
    """The background job that drops finished rate-limit windows."""

    async def prune_rate_counters(runtime: Runtime) -> None:
        from datetime import UTC, datetime, timedelta

        from hearth_gateway import repository

        while True:
            before = datetime.now(UTC) - timedelta(seconds=2 * gateway.settings.rate_window_seconds)
            removed = await repository.delete_windows_before(runtime.db.pool, before=before)
            if removed:
                log.info("pruned rate counters", rows=removed)
            await asyncio.sleep(every_seconds)

    return prune_rate_counters
