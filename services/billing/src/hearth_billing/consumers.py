"""Kafka subscriptions of billing: lease accounts and building time zones from property.events."""

from __future__ import annotations

from faststream.kafka import KafkaBroker
from hearth_contracts.topics import PROPERTY_EVENTS
from hearth_kit.messaging import CONSUMER_ACK_POLICY, idempotent_consumer
from hearth_kit.runtime import Runtime

from hearth_billing.service.postings import PROPERTY_TYPES, on_property_event


def wire(broker: KafkaBroker, runtime: Runtime) -> None:
    """Subscribe the lease-account projection (consumer group billing-leases)."""
    broker.subscriber(PROPERTY_EVENTS.name, group_id="billing-leases", ack_policy=CONSUMER_ACK_POLICY,
                      auto_offset_reset="earliest")(
        idempotent_consumer(db=runtime.db, consumer="lease-accounts", handle=on_property_event,
                            types=PROPERTY_TYPES, dead_letters=runtime.dead_letters))
