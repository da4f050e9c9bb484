"""Kafka subscriptions of the property service: billing's payments feed the resident projection."""

from __future__ import annotations

from hearth_contracts.billing import PaymentRecorded
from hearth_contracts.topics import BILLING_EVENTS
from hearth_kit.subscriptions import Subscription, on

from hearth_property.service.residents import project_payment

PAYMENTS = Subscription(
    topic=BILLING_EVENTS, group="property-billing-projection", name="payments-projection",
    handlers=[on(PaymentRecorded, project_payment)],
)
SUBSCRIPTIONS = [PAYMENTS]
