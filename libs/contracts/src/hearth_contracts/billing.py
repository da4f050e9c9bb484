"""Facts the billing service publishes on `billing.events`."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from hearth_contracts.common import Money
from hearth_contracts.envelope import EventData
from hearth_contracts.registry import register
from hearth_contracts.topics import BILLING_EVENTS

PaymentMethod = Literal["cash", "cheque", "bank_transfer", "card"]


class _BillingEvent(EventData):
    topic = BILLING_EVENTS.name


@register
class PaymentRecorded(_BillingEvent):
    """A payment from a resident was recorded (keyed by payment id)."""

    event_type = "hearth.payment.recorded.v1"

    payment_id: str = Field(description="Payment id, pay_...")
    org_id: str = Field(description="Owning org, org_...")
    resident_id: str = Field(description="Paying resident, res_...")
    lease_id: str | None = Field(default=None, description="Lease the payment is for, lease_..., if any")
    amount: Money = Field(description="Amount paid, exact")
    method: PaymentMethod = Field(description="cash, cheque, bank_transfer or card")
    paid_at: datetime = Field(description="When the money was paid (RFC 3339)")
    reference: str | None = Field(default=None, description="Cheque number, transfer reference, card receipt")
