"""Money as billing takes and shows it, on top of the kit's input rules (`hearth_kit.rules`).

The kit decides what an amount and a currency are (ASCII digits with at most one '.', ISO 4217 codes with
minor units, no more decimals than the currency has). Billing adds only what is its own:

- an amount is a JSON *string*: the kit also reads whole JSON numbers (the property seeds send them), but
  a payment or a charge is money moved, and a number in a client's JSON may already have been a float;
- a currency is written upper-case, exactly as the lease and the events carry it;
- an amount is above zero and below 10^12, inside the NUMERIC(18, 4) columns it is stored in.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from hearth_contracts.common import Money
from hearth_kit import rules
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator

MAX_AMOUNT = Decimal("1000000000000")  # 10^12: far above any rent, far below NUMERIC(18, 4)'s limit
STORED_PLACES = 4  # the scale of billing's money columns: more decimals would be rounded silently
DEFAULT_MINOR_UNITS = 2


def _amount_string(value: Any) -> Decimal:
    if not isinstance(value, str):
        raise ValueError('amount must be a string such as "1250.00" (numbers are refused: they may be floats)')
    amount = rules.parse_amount(value)
    if amount >= MAX_AMOUNT:
        raise ValueError(f"amount must be below {MAX_AMOUNT}")
    if rules.decimal_places(amount) > STORED_PLACES:
        raise ValueError(f"amount has at most {STORED_PLACES} decimals")
    return amount


def _currency_code(value: Any) -> str:
    if not isinstance(value, str) or value != value.upper():
        raise ValueError("currency must be an upper-case ISO 4217 code, e.g. USD")
    return rules.parse_currency(value)


AmountString = Annotated[Decimal, BeforeValidator(_amount_string), WithJsonSchema(
    {"type": "string", "pattern": r"^[0-9]{1,13}(\.[0-9]{1,4})?$", "examples": ["1250.00"],
     "description": 'Exact amount as a string, e.g. "1250.00"'})]
CurrencyCode = Annotated[str, BeforeValidator(_currency_code), WithJsonSchema(
    {"type": "string", "pattern": "^[A-Z]{3}$", "examples": ["USD"], "description": "ISO 4217 code"})]


class MoneyIn(BaseModel):
    """An exact, positive amount in a known currency, as a client sends it."""

    model_config = ConfigDict(extra="forbid")

    amount: AmountString
    currency: CurrencyCode

    @model_validator(mode="after")
    def _exact_for_currency(self) -> MoneyIn:
        rules.check_amount_for_currency(self.amount, self.currency)
        if self.amount <= 0:
            raise ValueError("amount must be greater than zero")
        return self


class MoneyOut(BaseModel):
    """Money as billing shows it: the amount as a string with the currency's decimals."""

    amount: str = Field(description='Exact amount, e.g. "1250.00"')
    currency: str = Field(description="ISO 4217 code")


def minor_units(currency: str) -> int:
    """Decimals of a currency (2 for a code the kit does not know, e.g. from an older lease event)."""
    try:
        return rules.minor_units(currency)
    except ValueError:
        return DEFAULT_MINOR_UNITS


def quantize(amount: Decimal, currency: str) -> Decimal:
    """Round to the currency's minor unit, half up (proration, percentages)."""
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUND_HALF_UP)


def money_out(amount: Decimal, currency: str) -> dict[str, str]:
    """`{"amount": "1250.00", "currency": "USD"}`: exact, with the currency's decimals."""
    return {"amount": str(quantize(amount, currency)), "currency": currency}


def event_money(amount: Decimal, currency: str) -> Money:
    """Money for an event: exact, with the currency's decimals (not the column's four)."""
    return Money(amount=quantize(amount, currency), currency=currency)
