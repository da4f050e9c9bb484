"""Kafka subscriptions of the maintenance service: parse, call the intake use case (one inbox transaction each)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
from faststream.kafka import KafkaBroker
from hearth_contracts.access import AccessCodeUsed
from hearth_contracts.envelope import Envelope
from hearth_contracts.telemetry import AlertCleared, AlertRaised
from hearth_contracts.topics import ACCESS_EVENTS, AUTH_EVENTS, PROPERTY_EVENTS, TELEMETRY_ALERTS
from hearth_kit.messaging import CONSUMER_ACK_POLICY, idempotent_consumer
from hearth_kit.runtime import Runtime

from hearth_maintenance import intake

Handler = Callable[[asyncpg.Connection, Envelope], Awaitable[None]]


async def _on_alert(conn: asyncpg.Connection, envelope: Envelope) -> None:
    await (intake.on_alert_raised if envelope.type == AlertRaised.event_type else intake.on_alert_cleared)(
        conn, envelope)


async def _on_access(conn: asyncpg.Connection, envelope: Envelope) -> None:
    await (intake.on_code_used if envelope.type == AccessCodeUsed.event_type else intake.on_lock_fact)(
        conn, envelope)


# (topic, consumer group = inbox consumer name, event types, handler)
SUBSCRIPTIONS: tuple[tuple[str, str, frozenset[str], Handler], ...] = (
    (TELEMETRY_ALERTS.name, "maintenance-alerts",
     frozenset({AlertRaised.event_type, AlertCleared.event_type}), _on_alert),
    (ACCESS_EVENTS.name, "maintenance-access", intake.LOCK_FACTS | {AccessCodeUsed.event_type}, _on_access),
    (PROPERTY_EVENTS.name, "maintenance-property-projection", intake.PROPERTY_FACTS, intake.on_property_fact),
    (AUTH_EVENTS.name, "maintenance-members-projection", intake.MEMBER_FACTS, intake.on_member_fact),
)


def wire(broker: KafkaBroker, runtime: Runtime) -> None:
    """Subscribe every intake with the kit's idempotent consumer (inbox + dead letters)."""
    for topic, group, types, handle in SUBSCRIPTIONS:
        broker.subscriber(topic, group_id=group, ack_policy=CONSUMER_ACK_POLICY, auto_offset_reset="earliest")(
            idempotent_consumer(db=runtime.db, consumer=group, handle=handle, types=types,
                                dead_letters=runtime.dead_letters))
