"""The fan-out: every fact topic and telemetry.alerts, consumed in batches, each batch one transaction.

One Kafka consumer per topic (a busy topic never waits behind another) takes whatever has arrived, up
to `fanout_max_records`; the whole batch then costs one transaction of three statements (inbox + matching,
sequence numbers, the events and their deliveries), however many records and endpoints it holds. Offsets
are committed after the commit: a replica killed in between sees the batch again, and the inbox turns the
redelivery into nothing (no second delivery, no second sequence number).

A batch that keeps failing is split: each record is then tried alone and, if it still fails, parked on
its topic's dead-letter topic (so one poisonous record cannot stall a partition). An unreachable database
is not the record's fault: the batch waits for it instead of being parked.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import CommitFailedError, KafkaError
from hearth_contracts.envelope import parse_cloudevent
from hearth_contracts.topics import Topic
from hearth_kit.db import Database
from hearth_kit.logging import get_logger
from hearth_kit.messaging import DeadLetters
from prometheus_client import Counter

from hearth_webhooks import repository
from hearth_webhooks.domain import consumed_topics
from hearth_webhooks.repository import IncomingEvent
from hearth_webhooks.runtime import WebhooksRuntime

log = get_logger(__name__)

CONSUMER = "webhooks-fanout"  # the inbox's consumer name
FANNED_OUT = Counter("hearth_webhook_fanout_events_total", "Consumed events by outcome", ["outcome"])
# Failures that say nothing about the records: wait for the database rather than park them.
_OUTAGE = (OSError, TimeoutError, asyncpg.InterfaceError, asyncpg.exceptions.ConnectionDoesNotExistError,
           asyncpg.exceptions.CannotConnectNowError, asyncpg.exceptions.TooManyConnectionsError)
_BATCH_TRIES = 3


async def fanout_job(runtime: WebhooksRuntime) -> None:
    """Background job: one batch consumer per consumed topic, until cancelled."""
    settings = runtime.settings
    dead_letters = DeadLetters(settings.kafka_bootstrap, client_id=f"hearth-{settings.service_name}",
                               max_attempts=settings.consumer_max_attempts)
    topics = consumed_topics()
    positioned: set[str] = set()

    def ready(topic: str) -> None:
        positioned.add(topic)
        if len(positioned) == len(topics):
            runtime.state.fanout_ready.set()

    try:
        await asyncio.gather(*(_consume(runtime, topic, dead_letters, ready) for topic in topics))
    finally:
        with contextlib.suppress(Exception):
            await dead_letters.stop()


async def _consume(runtime: WebhooksRuntime, topic: Topic, dead_letters: DeadLetters,
                   ready: Callable[[str], None]) -> None:
    settings = runtime.settings
    delay = 0.5
    while True:  # Kafka down at start (or a consumer failing later): try again, HTTP keeps serving
        consumer = AIOKafkaConsumer(
            topic.name, bootstrap_servers=settings.kafka_bootstrap,
            # The schema names the group, so two deployments (or test schemas) never share offsets.
            group_id=f"{settings.db_schema}-{topic.name}", client_id=f"hearth-{settings.service_name}-fanout",
            enable_auto_commit=False, auto_offset_reset=settings.fanout_start,
            fetch_max_wait_ms=settings.fanout_wait_ms)
        try:
            await consumer.start()
            await _positioned(consumer)
            ready(topic.name)
            delay = 0.5
            while True:
                fetched = await consumer.getmany(timeout_ms=1000, max_records=settings.fanout_max_records)
                records = [r for batch in fetched.values() for r in batch]
                if records:
                    await fan_out_records(runtime.db, records, dead_letters)
                    with contextlib.suppress(CommitFailedError):  # rebalanced: the batch comes again, harmlessly
                        await consumer.commit()
        except KafkaError as exc:
            log.warning("fan-out consumer failed; restarting", topic=topic.name, error=repr(exc))
        finally:
            with contextlib.suppress(Exception):  # (bounded: a stopping service must not hang on a rebalance)
                await asyncio.wait_for(consumer.stop(), timeout=10)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 10)


async def _positioned(consumer: AIOKafkaConsumer, *, wait_seconds: float = 10) -> None:
    """Join the group and resolve the start positions. (Another replica may hold every partition: then
    there is nothing to position after a while.)"""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while not consumer.assignment() and loop.time() < deadline:  # noqa: ASYNC110 (aiokafka joins in the background)
        await asyncio.sleep(0.05)
    for tp in consumer.assignment():
        await consumer.position(tp)


async def fan_out_records(db: Database, records: Sequence[Any], dead_letters: DeadLetters) -> None:
    """Queue the deliveries of a batch of Kafka records (all in one transaction when it can)."""
    events: list[tuple[Any, IncomingEvent]] = []
    for record in records:
        try:
            envelope = parse_cloudevent(record.value)
        except ValueError as exc:
            await dead_letters.park(record, consumer=CONSUMER, reason=f"not a CloudEvent: {exc}")
            FANNED_OUT.labels("parked").inc()
            continue
        # The record's bytes, so partners get the CloudEvent exactly as it was published.
        events.append((record, IncomingEvent(envelope.id, envelope.orgid, envelope.type, envelope.subject,
                                             bytes(record.value))))
    if not events:
        return
    failures, pause = 0, 0.5
    while True:
        try:
            await _store(db, [e for _, e in events])
            return
        except _OUTAGE as exc:
            log.warning("database unreachable; the batch waits", error=repr(exc))
            await asyncio.sleep(pause)
            pause = min(pause * 2, 5)
        except Exception as exc:
            failures += 1
            log.warning("fan-out batch failed", error=repr(exc), records=len(events), failures=failures)
            if failures >= _BATCH_TRIES:
                break
            await asyncio.sleep(0.1 * failures)
    for record, event in events:  # one at a time, so only the records that really fail are parked
        while True:
            try:
                await _store(db, [event])
                dead_letters.succeeded(record)
                break
            except _OUTAGE:
                raise  # not the record's fault: the batch is not committed and comes again
            except Exception as exc:
                if not await dead_letters.retry_later(record):
                    await dead_letters.park(record, consumer=CONSUMER, reason=repr(exc))
                    FANNED_OUT.labels("parked").inc()
                    break


async def _store(db: Database, events: list[IncomingEvent]) -> None:
    async with db.system_transaction() as conn:
        queued = await repository.fan_out(conn, consumer=CONSUMER, events=events)
    FANNED_OUT.labels("consumed").inc(len(events))
    FANNED_OUT.labels("queued").inc(queued)
