"""Kafka subscriptions of the property service: billing's payments feed the resident projection."""

from __future__ import annotations

from faststream.kafka import KafkaBroker
from hearth_contracts.billing import PaymentRecorded, PaymentReversed
from hearth_contracts.topics import BILLING_EVENTS
from hearth_kit.messaging import CONSUMER_ACK_POLICY, idempotent_consumer
from hearth_kit.runtime import Runtime

from hearth_property.service.residents import project_billing_event


def wire(broker: KafkaBroker, runtime: Runtime) -> None:
    """Subscribe the payments projection (recorded and reversed) (consumer group property-billing-projection)."""
    broker.subscriber(BILLING_EVENTS.name, group_id="property-billing-projection", ack_policy=CONSUMER_ACK_POLICY,
                      auto_offset_reset="earliest")(
        idempotent_consumer(db=runtime.db, consumer="payments-projection", handle=project_billing_event,
                            types=frozenset({PaymentRecorded.event_type, PaymentReversed.event_type}),
                            dead_letters=runtime.dead_letters))
