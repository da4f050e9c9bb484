"""Exact money rules of billing, in one place (to be swapped for the kit's money type once it lands).

Amounts travel as JSON strings ("1250.00"), never numbers, and are `Decimal` from there on. A currency is an
ISO 4217 code this table knows; an amount may carry at most that currency's minor-unit decimals.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from hearth_contracts.common import Money
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

# ISO 4217 codes and their minor units (the common ones; others are refused until the kit's full table).
MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys((
        "AED", "ARS", "AUD", "BGN", "BRL", "CAD", "CHF", "CNY", "COP", "CZK", "DKK", "EGP", "EUR", "GBP", "HKD",
        "HUF", "IDR", "ILS", "INR", "MAD", "MXN", "MYR", "NOK", "NZD", "PEN", "PHP", "PKR", "PLN", "QAR", "RON",
        "RUB", "SAR", "SEK", "SGD", "THB", "TRY", "TWD", "UAH", "USD", "ZAR"), 2),
    **dict.fromkeys(("JPY", "KRW", "CLP", "ISK", "VND", "XOF", "XAF", "UGX"), 0),
    **dict.fromkeys(("BHD", "JOD", "KWD", "OMR", "TND"), 3),
}
MAX_AMOUNT = Decimal("1000000000000")  # 10^12: far above any rent, far below NUMERIC(18, 4)'s limit
_AMOUNT = re.compile(r"^(0|[1-9][0-9]{0,12})(\.[0-9]{1,4})?$")


def _amount_string(value: Any) -> Any:
    """Only a plain decimal string is an amount: no numbers (floats), exponents, signs or spaces."""
    if not isinstance(value, str):
        raise ValueError('amount must be a string such as "1250.00" (numbers are refused: they may be floats)')
    if not _AMOUNT.fullmatch(value):
        raise ValueError('amount must look like "1250.00": digits, optional point and up to 4 decimals')
    return Decimal(value)


def _currency_code(value: Any) -> Any:
    if not isinstance(value, str) or value not in MINOR_UNITS:
        raise ValueError("currency must be an upper-case ISO 4217 code billing knows, e.g. USD")
    return value


AmountString = Annotated[Decimal, BeforeValidator(_amount_string)]
CurrencyCode = Annotated[str, BeforeValidator(_currency_code), Field(json_schema_extra={"example": "USD"})]


class MoneyIn(BaseModel):
    """An exact, positive amount in a known currency, as a client sends it."""

    model_config = ConfigDict(extra="forbid")

    amount: AmountString = Field(description='Exact amount as a string, e.g. "1250.00"',
                                 json_schema_extra={"type": "string", "example": "1250.00"})
    currency: CurrencyCode = Field(description="ISO 4217 code, e.g. USD")

    @model_validator(mode="after")
    def _exact_for_currency(self) -> MoneyIn:
        places = MINOR_UNITS[self.currency]
        exponent = self.amount.as_tuple().exponent
        assert isinstance(exponent, int)
        if -exponent > places:
            raise ValueError(f"{self.currency} amounts have at most {places} decimals")
        if self.amount <= 0:
            raise ValueError("amount must be greater than zero")
        if self.amount >= MAX_AMOUNT:
            raise ValueError(f"amount must be below {MAX_AMOUNT}")
        return self


class MoneyOut(BaseModel):
    """Money as billing shows it: the amount as a string with the currency's decimals."""

    amount: str = Field(description='Exact amount, e.g. "1250.00"')
    currency: str = Field(description="ISO 4217 code")


def minor_units(currency: str) -> int:
    """Decimals of a currency (2 for one billing does not list, e.g. from an older lease event)."""
    return MINOR_UNITS.get(currency, 2)


def quantize(amount: Decimal, currency: str) -> Decimal:
    """Round to the currency's minor unit, half up (proration, percentages)."""
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUND_HALF_UP)


def money_out(amount: Decimal, currency: str) -> dict[str, str]:
    """`{"amount": "1250.00", "currency": "USD"}`: exact, with the currency's decimals."""
    return {"amount": str(quantize(amount, currency)), "currency": currency}


def event_money(amount: Decimal, currency: str) -> Money:
    """Money for an event: exact, with the currency's decimals (not the column's four)."""
    return Money(amount=quantize(amount, currency), currency=currency)
