"""Property's subscriptions: the payment records projection from billing.events (recorded and reversed)."""

from __future__ import annotations

from hearth_contracts.billing import PaymentRecorded, PaymentReversed
from hearth_contracts.topics import BILLING_EVENTS
from hearth_kit.subscriptions import Subscription, on

from hearth_property.service.residents import project_payment, project_payment_reversal

PAYMENTS = Subscription(
    topic=BILLING_EVENTS, group="property-billing-projection", name="payments-projection",
    handlers=[on(PaymentRecorded, project_payment), on(PaymentReversed, project_payment_reversal)],
)
SUBSCRIPTIONS = [PAYMENTS]
