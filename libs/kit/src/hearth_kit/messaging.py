"""Kafka wiring: the idempotent producer, the FastStream broker, topic creation, idempotent consumers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from hearth_contracts.envelope import Envelope, parse_cloudevent
from hearth_contracts.topics import Topic

from hearth_kit.db import Database
from hearth_kit.inbox import first_delivery
from hearth_kit.logging import get_logger

log = get_logger(__name__)

# Every consumer acks only after its handler finished; on an error the message is redelivered
# (AckPolicy.ACK would commit past a failed message and lose it, so we nack on error instead).
CONSUMER_ACK_POLICY = AckPolicy.NACK_ON_ERROR


def producer_config(bootstrap: str, *, client_id: str) -> dict[str, Any]:
    """Producer settings that never lose or duplicate an accepted record: idempotent, acks=all."""
    return {
        "bootstrap_servers": bootstrap,
        "client_id": client_id,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 2,
        "max_batch_size": 256 * 1024,
        "compression_type": None,
        "request_timeout_ms": 10_000,
    }


def new_producer(bootstrap: str, *, client_id: str) -> AIOKafkaProducer:
    """An idempotent aiokafka producer (not yet started)."""
    return AIOKafkaProducer(**producer_config(bootstrap, client_id=client_id))


def new_broker(bootstrap: str, *, client_id: str) -> KafkaBroker:
    """A FastStream broker whose own producer is idempotent with acks=all."""
    return KafkaBroker(bootstrap, client_id=client_id, acks="all", enable_idempotence=True, logger=None)


async def ensure_topics(bootstrap: str, topics: Iterable[Topic], *, replication: int = 1) -> None:
    """Create the topics that do not exist yet (with their declared partition counts)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="hearth-topics")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(t.name, t.partitions, replication) for t in topics if t.name not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another replica won the race
    finally:
        await admin.close()


EventHandler = Callable[[asyncpg.Connection, Envelope], Awaitable[None]]


def idempotent_consumer(
    *, db: Database, consumer: str, handle: EventHandler, types: frozenset[str] | None = None
) -> Callable[[KafkaMessage], Awaitable[None]]:
    """Wrap `handle` so each event has one effect, however often Kafka delivers it.

    The handler runs in a transaction scoped to the event's org, together with the inbox row.
    A record that is not a valid CloudEvent can never succeed, so it is logged and skipped.
    """

    async def on_message(msg: KafkaMessage) -> None:
        try:
            envelope = parse_cloudevent(msg.body)
        except ValueError as exc:
            log.error("skipping malformed event", consumer=consumer, error=str(exc))
            return
        if types is not None and envelope.type not in types:
            return
        async with db.transaction(org_id=envelope.orgid) as conn:
            if await first_delivery(conn, consumer=consumer, event_id=envelope.id):
                await handle(conn, envelope)

    return on_message


async def wait_for(predicate: Callable[[], Awaitable[bool]], *, timeout: float, interval: float = 0.05) -> bool:
    """Poll an async predicate until it holds or the timeout passes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(interval)
    return await predicate()
