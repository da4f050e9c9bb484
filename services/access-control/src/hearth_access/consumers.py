"""Kafka subscriptions: the command bridge, the property projection + lease codes, maintenance visits."""

from __future__ import annotations

import asyncpg
from faststream.kafka import KafkaBroker, KafkaMessage
from hearth_contracts.envelope import Envelope, parse_cloudevent
from hearth_contracts.topics import ACCESS_COMMANDS, MAINTENANCE_EVENTS, PROPERTY_EVENTS
from hearth_kit.logging import get_logger
from hearth_kit.messaging import CONSUMER_ACK_POLICY, idempotent_consumer
from hearth_kit.runtime import Runtime

from hearth_access.config import Settings
from hearth_access.service import automations, commands, projection
from hearth_access.service.vendors import VendorHub

log = get_logger(__name__)


def wire(broker: KafkaBroker, runtime: Runtime) -> None:
    """Subscribe the bridge (access-bridge), property (access-property) and maintenance (access-maintenance)."""
    settings = runtime.settings
    assert isinstance(settings, Settings)

    async def bridge(msg: KafkaMessage) -> None:
        # Not the inbox pattern: the attempt row itself records that a command was taken, committed
        # *before* the vendor call, which the inbox (committed with the effect) cannot do.
        try:
            envelope = parse_cloudevent(msg.body)
        except ValueError as exc:
            if runtime.dead_letters is not None:
                await runtime.dead_letters.park(msg.raw_message, consumer="access-bridge", reason=str(exc))
            return
        if envelope.type not in commands.COMMAND_TYPES:
            return
        hub: VendorHub = runtime.extras["hub"]
        try:
            await commands.execute_command(hub, envelope)
        except Exception as exc:
            if runtime.dead_letters is None or await runtime.dead_letters.retry_later(msg.raw_message):
                log.warning("command failed; it will be redelivered", event_id=envelope.id, error=repr(exc))
                raise
            await runtime.dead_letters.park(msg.raw_message, consumer="access-bridge", reason=repr(exc))
            return
        if runtime.dead_letters is not None:
            runtime.dead_letters.succeeded(msg.raw_message)

    broker.subscriber(ACCESS_COMMANDS.name, group_id="access-bridge", ack_policy=CONSUMER_ACK_POLICY,
                      auto_offset_reset="earliest")(bridge)

    async def on_property(conn: asyncpg.Connection, envelope: Envelope) -> None:
        if envelope.type in automations.LEASE_TYPES:
            await automations.on_lease(conn, envelope, settings)
        else:
            await projection.project(conn, envelope)

    broker.subscriber(PROPERTY_EVENTS.name, group_id="access-property", ack_policy=CONSUMER_ACK_POLICY,
                      auto_offset_reset="earliest")(
        idempotent_consumer(db=runtime.db, consumer="access-property", handle=on_property,
                            types=projection.BUILDING_TYPES | projection.UNIT_TYPES | automations.LEASE_TYPES,
                            dead_letters=runtime.dead_letters))

    async def on_maintenance(conn: asyncpg.Connection, envelope: Envelope) -> None:
        await automations.on_request(conn, envelope, settings)
        runtime.extras["hub"].wake_sync()

    broker.subscriber(MAINTENANCE_EVENTS.name, group_id="access-maintenance", ack_policy=CONSUMER_ACK_POLICY,
                      auto_offset_reset="earliest")(
        idempotent_consumer(db=runtime.db, consumer="access-maintenance", handle=on_maintenance,
                            types=automations.MAINTENANCE_TYPES, dead_letters=runtime.dead_letters))
