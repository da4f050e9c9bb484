"""Facts the billing service publishes on `billing.events`."""

from __future__ import annotations

from datetime import date, datetime
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


ChargeKind = Literal["rent", "deposit", "late_fee", "nsf_fee", "utility", "other", "credit"]


@register
class ChargePosted(_BillingEvent):
    """A charge (or a credit, which lowers the balance) was posted to a lease's ledger (keyed by lease id)."""

    event_type = "hearth.charge.posted.v1"

    charge_id: str = Field(description="Charge id, chg_...")
    org_id: str = Field(description="Owning org, org_...")
    lease_id: str = Field(description="Lease whose ledger it is on, lease_...")
    kind: ChargeKind = Field(description="rent, deposit, late_fee, nsf_fee, utility, other or credit")
    amount: Money = Field(description="Amount, exact; a credit lowers the balance by it")
    due_date: date = Field(description="Day it falls due (building's local date)")
    period: str | None = Field(default=None, description="Rent period YYYY-MM for scheduled rent, else null")
    description: str | None = Field(default=None, description="What it is for")


@register
class ChargeVoided(_BillingEvent):
    """A charge was voided: it no longer counts toward the balance (keyed by lease id)."""

    event_type = "hearth.charge.voided.v1"

    charge_id: str = Field(description="Charge id, chg_...")
    org_id: str = Field(description="Owning org, org_...")
    lease_id: str = Field(description="Lease, lease_...")
    amount: Money = Field(description="Amount taken off the balance")
    reason: str | None = Field(default=None, description="Why it was voided")


@register
class PaymentReversed(_BillingEvent):
    """A completed payment was reversed (bounced cheque, charge-back), keyed by payment id."""

    event_type = "hearth.payment.reversed.v1"

    payment_id: str = Field(description="Payment id, pay_...")
    org_id: str = Field(description="Owning org, org_...")
    resident_id: str = Field(description="Paying resident, res_...")
    lease_id: str = Field(description="Lease the payment was for, lease_...")
    amount: Money = Field(description="Amount put back on the balance")
    reversed_at: datetime = Field(description="When it was reversed (RFC 3339)")
    reason: str | None = Field(default=None, description="Why, e.g. NSF")
    nsf_fee_charge_id: str | None = Field(default=None, description="The NSF fee charge posted with it, chg_...")


@register
class LeaseOverdue(_BillingEvent):
    """A lease's rent charge is still unpaid after the org's grace days (keyed by lease id)."""

    event_type = "hearth.lease.overdue.v1"

    lease_id: str = Field(description="Lease, lease_...")
    org_id: str = Field(description="Owning org, org_...")
    charge_id: str = Field(description="The overdue rent charge, chg_...")
    overdue: Money = Field(description="What is still owed on that charge")
    due_date: date = Field(description="When it fell due")
    late_fee_charge_id: str | None = Field(default=None, description="Late fee posted for it, chg_..., if any")
