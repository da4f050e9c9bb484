"""Request and response bodies of the billing API (validation lives here: bad input never reaches SQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from hearth_kit.api import PageMeta
from hearth_kit.rules import Day, Name, Text, check_day
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from hearth_billing.money import AmountString, MoneyIn, MoneyOut

ID_PATTERN = r"^[a-z]{2,6}_[0-9a-z]{26}$"
PaymentMethod = Literal["cash", "cheque", "bank_transfer", "card"]
PaymentStatus = Literal["pending", "completed", "failed", "reversed"]
ChargeKindIn = Literal["rent", "deposit", "late_fee", "utility", "other", "credit"]
ChargeKind = Literal["rent", "deposit", "late_fee", "nsf_fee", "utility", "other", "credit"]
ChargeStatus = Literal["open", "partially_paid", "paid", "void", "applied"]


def _sane_moment(value: datetime) -> datetime:
    """An instant with its offset (a naive time would be read in the server's zone) in the kit's date range."""
    if value.tzinfo is None:
        raise ValueError("must carry a time zone offset (RFC 3339), e.g. 2026-03-01T10:00:00Z")
    check_day(value.astimezone(UTC).date())
    return value


Reference = Annotated[Name, Field(max_length=200)]
Note = Annotated[Text, Field(max_length=500)]
Memo = Annotated[Text, Field(max_length=1000)]
ResourceId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
Moment = Annotated[datetime, AfterValidator(_sane_moment)]
_Strict = ConfigDict(extra="forbid")


# --- requests ---------------------------------------------------------------------------------------


class ChargeIn(BaseModel):
    """The body of POST /v1/charges: a manual charge, or a credit (which lowers the balance)."""

    model_config = _Strict

    lease_id: ResourceId = Field(description="Lease to charge, lease_...")
    kind: ChargeKindIn = Field(description="rent, deposit, late_fee, utility, other, or credit")
    amount: MoneyIn = Field(description="Exact positive amount in the lease's currency")
    due_date: Day | None = Field(default=None, description="Due day (default: today in the building's zone)")
    description: Note | None = Field(default=None, description="What it is for")


class VoidIn(BaseModel):
    """The body of POST /v1/charges/{id}/void."""

    model_config = _Strict

    reason: Note | None = None


class PaymentIn(BaseModel):
    """The body of POST /v1/payments (seed 002's Record Payment)."""

    model_config = _Strict

    lease_id: ResourceId | None = Field(default=None, description="Lease paid for (or give resident_id)")
    resident_id: ResourceId | None = Field(default=None, description="Paying resident (default: the lease's first)")
    amount: MoneyIn = Field(description="Exact positive amount in the lease's currency")
    method: PaymentMethod = Field(description="cash, cheque, bank_transfer or card")
    status: Literal["pending", "completed"] = Field(
        default="completed", description="pending (e.g. a cheque not yet cleared) or completed")
    received_at: Moment | None = Field(default=None, description="When the money was received (default: now)")
    reference: Reference | None = Field(default=None, description="Cheque number, transfer ref, card receipt")
    memo: Memo | None = None

    @model_validator(mode="after")
    def _whose(self) -> PaymentIn:
        if self.lease_id is None and self.resident_id is None:
            raise ValueError("give lease_id or resident_id")
        return self


class ReverseIn(BaseModel):
    """The body of POST /v1/payments/{id}/reverse."""

    model_config = _Strict

    reason: Note | None = Field(default=None, description="Why, e.g. NSF")
    nsf_fee: MoneyIn | None = Field(default=None, description="NSF fee charged to the lease with the reversal")


class FailIn(BaseModel):
    """The body of POST /v1/payments/{id}/fail."""

    model_config = _Strict

    reason: Note | None = None


def _percent(value: Decimal) -> Decimal:
    if value > 100:
        raise ValueError("a percentage is at most 100")
    return value


class SettingsIn(BaseModel):
    """The body of PUT /v1/billing-settings: the org's late-fee policy."""

    model_config = _Strict

    grace_days: int = Field(default=5, ge=0, le=60, description="Days after the due day before a fee")
    late_fee_enabled: bool = Field(default=False, description="Post late fees automatically")
    late_fee_type: Literal["flat", "percent"] = Field(default="flat", description="flat amount or percent")
    late_fee_flat: AmountString | None = Field(default=None, description="Flat fee, in each lease's currency",
                                               json_schema_extra={"type": "string"})
    late_fee_percent: Annotated[AmountString, AfterValidator(_percent)] | None = Field(
        default=None, description="Percent of the overdue rent, e.g. \"5\"", json_schema_extra={"type": "string"})
    late_fee_cap: AmountString | None = Field(default=None, description="Largest fee per charge",
                                              json_schema_extra={"type": "string"})

    @model_validator(mode="after")
    def _complete(self) -> SettingsIn:
        if self.late_fee_enabled and self.late_fee_type == "flat" and not self.late_fee_flat:
            raise ValueError("a flat late fee needs late_fee_flat")
        if self.late_fee_enabled and self.late_fee_type == "percent" and not self.late_fee_percent:
            raise ValueError("a percent late fee needs late_fee_percent")
        return self


# --- responses --------------------------------------------------------------------------------------


class AllocationOut(BaseModel):
    source_id: str = Field(description="pay_... or a credit's chg_...")
    charge_id: str
    amount: MoneyOut


class ChargeOut(BaseModel):
    id: str
    lease_id: str
    kind: ChargeKind
    amount: MoneyOut
    amount_paid: MoneyOut = Field(description="Paid so far (for a credit: applied so far)")
    status: ChargeStatus
    due_date: date
    period: str | None = Field(description="YYYY-MM of scheduled rent")
    description: str | None
    for_charge: str | None = Field(description="The charge a late fee or proration credit is for")
    voided_at: datetime | None
    void_reason: str | None
    created_at: datetime


class PaymentOut(BaseModel):
    id: str
    lease_id: str
    resident_id: str
    building_id: str
    amount: MoneyOut
    method: PaymentMethod
    status: PaymentStatus
    received_at: datetime
    reference: str | None
    memo: str | None
    completed_at: datetime | None
    reversed_at: datetime | None
    reversal_reason: str | None
    nsf_fee_charge_id: str | None
    created_at: datetime
    allocations: list[AllocationOut] | None = Field(default=None, description="Charges it paid (detail only)")


class LedgerEntryOut(BaseModel):
    id: int
    type: Literal["charge", "credit", "void", "payment", "reversal"]
    ref_id: str
    kind: str | None
    amount: MoneyOut = Field(description="Signed: positive raises the balance, negative lowers it")
    date: date
    description: str | None
    balance: MoneyOut = Field(description="Running balance after this entry")


class LedgerMeta(PageMeta):
    lease_id: str
    balance: MoneyOut


class LedgerPage(BaseModel):
    data: list[LedgerEntryOut]
    meta: LedgerMeta


class Aging(BaseModel):
    current: str = Field(description="0-30 days past due (and not yet due)")
    days_31_60: str
    days_61_90: str
    days_over_90: str


class BalanceOut(BaseModel):
    currency: str
    balance: str = Field(description="Charges - payments - credits + reversals (negative = in credit)")
    owed: str = Field(description="Open charges still unpaid")
    credit: str = Field(description="Money received and not yet applied")
    aging: Aging
    leases: int = Field(description="Lease accounts counted")


class BalancesOut(BaseModel):
    scope: Literal["org", "building", "resident"]
    building_id: str | None = None
    resident_id: str | None = None
    as_of: date
    balances: list[BalanceOut] = Field(description="One entry per currency")


class SettingsOut(BaseModel):
    grace_days: int
    late_fee_enabled: bool
    late_fee_type: Literal["flat", "percent"]
    late_fee_flat: str | None
    late_fee_percent: str | None
    late_fee_cap: str | None
