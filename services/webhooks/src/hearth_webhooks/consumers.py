"""Kafka subscriptions: every fact topic and telemetry.alerts, fanned out to the org's endpoints."""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable

import asyncpg
from faststream.kafka import KafkaBroker, KafkaMessage
from hearth_contracts.envelope import Envelope
from hearth_kit.messaging import CONSUMER_ACK_POLICY, idempotent_consumer
from hearth_kit.runtime import Runtime

from hearth_webhooks import service
from hearth_webhooks.domain import consumed_topics

CONSUMER = "webhooks-fanout"
# The record's bytes, so partners get the CloudEvent exactly as it was published (not re-serialised).
_raw_record: contextvars.ContextVar[bytes] = contextvars.ContextVar("webhooks_raw_record")


async def _fan_out(conn: asyncpg.Connection, envelope: Envelope) -> None:
    await service.fan_out(conn, envelope=envelope, payload=_raw_record.get())


def _keeping_raw(handler: Callable[[KafkaMessage], Awaitable[None]]) -> Callable[[KafkaMessage], Awaitable[None]]:
    async def on_message(msg: KafkaMessage) -> None:
        token = _raw_record.set(bytes(msg.body))
        try:
            await handler(msg)
        finally:
            _raw_record.reset(token)

    return on_message


def wire(broker: KafkaBroker, runtime: Runtime) -> None:
    """A consumer group per topic, so a busy topic never waits behind another, with several members in
    this replica, so fan-out (bound by database round trips) runs for several partitions at once."""
    members: int = getattr(runtime.settings, "consumers_per_topic", 1)
    for topic in consumed_topics():
        for _ in range(members):
            handler = idempotent_consumer(db=runtime.db, consumer=CONSUMER, handle=_fan_out,
                                          dead_letters=runtime.dead_letters)
            broker.subscriber(topic.name, group_id=f"webhooks-{topic.name}", ack_policy=CONSUMER_ACK_POLICY,
                              auto_offset_reset="earliest")(_keeping_raw(handler))
