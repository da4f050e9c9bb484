"""Background jobs: `auth.events` → the identity caches on every replica, and pruning of old rate windows.

Each replica reads every partition itself (no consumer group: with `group_id=None` aiokafka assigns every
partition of the subscribed topic to this consumer), starting at the end: a revocation must reach all
replicas, not one member of a group, and there is nothing to replay at start. Events only make a revocation
immediate; correctness does not hang on them (see `identity.py`: nothing is trusted longer than the identity
TTL without auth-token's word). After any restart of this loop the cached identities are dropped.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaConsumer
from hearth_contracts.envelope import parse_cloudevent
from hearth_contracts.topics import AUTH_EVENTS
from hearth_kit.logging import get_logger
from hearth_kit.runtime import BackgroundJob, Runtime

from hearth_gateway import repository
from hearth_gateway.identity import Authenticator

log = get_logger(__name__)


def auth_events_consumer(auth: Authenticator) -> BackgroundJob:
    """The background job that applies auth events to `auth`'s caches."""

    async def consume_auth_events(runtime: Runtime) -> None:
        runtime.consumers_ready = False
        auth.events_ready.clear()
        consumer = AIOKafkaConsumer(AUTH_EVENTS.name, bootstrap_servers=runtime.settings.kafka_bootstrap,
                                    group_id=None, enable_auto_commit=False, auto_offset_reset="latest",
                                    client_id="hearth-gateway-auth-events")
        await consumer.start()
        try:
            async with asyncio.timeout(30):  # (the assignment has no event to wait on without a group)
                while not consumer.assignment():  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            for tp in consumer.assignment():  # pin "now" so nothing published after readiness is skipped
                await consumer.position(tp)
            auth.forget()
            runtime.consumers_ready = True
            auth.events_ready.set()
            log.info("auth.events consumer ready", partitions=len(consumer.assignment()))
            while True:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    for record in records:
                        try:
                            auth.apply_auth_event(parse_cloudevent(record.value))
                        except ValueError as exc:
                            log.error("skipping malformed auth event", error=str(exc))
        finally:
            runtime.consumers_ready = False
            auth.events_ready.clear()
            await consumer.stop()

    return consume_auth_events


def rate_counter_pruner(*, window_seconds: int, every_seconds: float = 600) -> BackgroundJob:
    """The background job that drops finished rate-limit windows."""

    async def prune_rate_counters(runtime: Runtime) -> None:
        while True:
            before = datetime.now(UTC) - timedelta(seconds=2 * window_seconds)
            removed = await repository.delete_windows_before(runtime.db.pool, before=before)
            if removed:
                log.info("pruned rate counters", rows=removed)
            await asyncio.sleep(every_seconds)

    return prune_rate_counters
