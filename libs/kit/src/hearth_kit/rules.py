"""Input rules decided once for every service: money, text, identifiers and dates.

Use the `Annotated` types in request models (`name: Name = Field(max_length=200)`, `amount: Amount`,
`start_date: Day`); each refuses with a plain `ValueError`, so FastAPI answers 422 problem+json naming
the field. Why these rules:

- Money: an amount is written only as ASCII digits with at most one '.', nothing else: no sign, no
  exponent, no '_' separators, no spaces, no other scripts' digits (Python's `Decimal("١٢٣")` would read
  123, `Decimal("1_000")` 1000 — a client meaning something else gets the wrong price, silently). JSON
  numbers are read through the same rule (seeds send `"amount": 850000`). Currencies are ISO 4217 codes
  with minor units (not metals or funds), and an amount has no more decimals than its currency's.
- Text: Postgres refuses NUL in text (a 500 before); names made only of invisible characters, or
  carrying bidi overrides that make a name display as something else, are refused; text is trimmed.
- Dates: years 1900..2200. Beyond them nothing a lease or a schedule means is real, and date arithmetic
  near year 9999 overflows.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from iso4217 import Currency as _Iso4217
from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema
from starlette.types import ASGIApp, Receive, Scope, Send

# --- money -------------------------------------------------------------------------------------

_AMOUNT = re.compile(r"[0-9]{1,30}(?:\.[0-9]{1,30})?", re.ASCII)
MAX_AMOUNT_TEXT = 40


def parse_amount(value: Any) -> Decimal:
    """A non-negative exact amount from a JSON string or number; ValueError for anything else."""
    if isinstance(value, bool):
        raise ValueError("amount must be a string of digits such as \"850000.00\"")
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        text = repr(value)  # 0.1 -> "0.1"; 1e30 -> "1e+30", refused below
    elif isinstance(value, Decimal):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        raise ValueError("amount must be a string of digits such as \"850000.00\"")
    if len(text) > MAX_AMOUNT_TEXT or _AMOUNT.fullmatch(text) is None:
        raise ValueError("amount must be ASCII digits with at most one '.', e.g. \"850000.00\""
                         " (no sign, spaces, exponent or separators)")
    return Decimal(text)


def decimal_places(value: Decimal) -> int:
    """How many digits an amount has after the point ("5.10" has 2)."""
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


@functools.lru_cache(maxsize=512)
def minor_units(currency: str) -> int:
    """The number of decimals of an ISO 4217 currency (JPY 0, EUR 2, KWD 3); ValueError if unknown."""
    try:
        exponent = _Iso4217(currency).exponent
    except ValueError:
        raise ValueError(f"'{currency}' is not an ISO 4217 currency code") from None
    if exponent is None:  # metals, funds, testing codes: not money a tenant pays
        raise ValueError(f"'{currency}' is not a currency with minor units (ISO 4217)")
    return int(exponent)


def parse_currency(value: Any) -> str:
    """An ISO 4217 code of a currency with minor units, upper-cased; ValueError otherwise."""
    if not isinstance(value, str) or re.fullmatch(r"[A-Za-z]{3}", value, re.ASCII) is None:
        raise ValueError("currency must be a three-letter ISO 4217 code such as \"EUR\"")
    code = value.upper()
    minor_units(code)
    return code


def check_amount_for_currency(amount: Decimal, currency: str) -> None:
    """ValueError when `amount` has more decimals than `currency` allows (e.g. "10.5" JPY)."""
    allowed = minor_units(currency)
    if decimal_places(amount.normalize()) > allowed:  # "100.00" JPY is 100: trailing zeros are fine
        raise ValueError(f"{currency} amounts have at most {allowed} decimals")


AMOUNT_JSON_SCHEMA: dict[str, Any] = {
    "anyOf": [{"type": "string", "pattern": f"^{_AMOUNT.pattern}$"}, {"type": "integer", "minimum": 0}],
    "description": 'ASCII digits with at most one ".", e.g. "850000.00" (a whole JSON number is read the same way)',
    "examples": ["850000.00"],
}
Amount = Annotated[Decimal, BeforeValidator(parse_amount), WithJsonSchema(AMOUNT_JSON_SCHEMA)]
"""A non-negative exact amount (pair with `Currency` and call `check_amount_for_currency` in the model)."""

CurrencyCode = Annotated[str, BeforeValidator(parse_currency),
                         Field(min_length=3, max_length=3, description="ISO 4217 code", examples=["EUR"])]

# --- text --------------------------------------------------------------------------------------

# Bidi embeddings, overrides and isolates: they reorder how text displays (U+202E makes "exe.txt" of
# "txt.exe"); no name needs them.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_LINE_BREAKS = frozenset("\n\r\t")


def _visible(ch: str) -> bool:
    """A character that shows: not a control, format (zero-width) or separator character."""
    return unicodedata.category(ch)[0] not in ("C", "Z")


def clean_text(value: str, *, multiline: bool) -> str:
    """Trimmed text with no NUL, no other control characters (tab and line breaks allowed in multi-line
    text), no bidi controls, and at least one visible character; ValueError otherwise."""
    trimmed = value.strip()
    if value.isprintable() and (trimmed or not value):
        return trimmed  # the common case, at C speed: no control, format or separator but ' ' at all
    for ch in value:
        if ch == "\x00":
            raise ValueError("text must not contain NUL characters")
        if ch in _BIDI_CONTROLS:
            raise ValueError(f"text must not contain bidi control characters (U+{ord(ch):04X})")
        if unicodedata.category(ch) == "Cc" and not (multiline and ch in _LINE_BREAKS):
            raise ValueError(f"text must not contain control characters (U+{ord(ch):04X})")
        if unicodedata.category(ch) == "Cs":
            raise ValueError("text must not contain unpaired surrogates")
    if value and not any(_visible(ch) for ch in trimmed):
        raise ValueError("text must contain at least one visible character")
    return trimmed


def _name(value: str) -> str:
    return clean_text(value, multiline=False)


def _text(value: str) -> str:
    return clean_text(value, multiline=True)


Name = Annotated[str, AfterValidator(_name)]
"""A single-line human-readable name or label (pair with `Field(min_length=1, max_length=...)`)."""

Text = Annotated[str, AfterValidator(_text)]
"""Free text that may span lines (a reason, a note)."""

# --- identifiers -------------------------------------------------------------------------------

IDENTIFIER_PATTERN = r"^[A-Za-z0-9_\-.:]{1,64}$"

Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=IDENTIFIER_PATTERN)]
"""A resource id as clients send it (`unt_01H...`): printable ASCII only, so it can never carry NUL."""

# --- dates -------------------------------------------------------------------------------------

MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(2200, 12, 31)


def check_day(value: date) -> date:
    """A date within MIN_DATE..MAX_DATE; ValueError otherwise."""
    if not MIN_DATE <= value <= MAX_DATE:
        raise ValueError(f"date must be between {MIN_DATE.isoformat()} and {MAX_DATE.isoformat()}")
    return value


Day = Annotated[date, AfterValidator(check_day)]
"""A calendar date in the range the platform can reason about (years 1900..2200)."""

# --- NUL in URLs --------------------------------------------------------------------------------


def has_nul(raw: bytes) -> bool:
    """True when a raw path or query string carries a NUL, literal or percent-encoded."""
    return b"\x00" in raw or b"%00" in raw


class RejectNulInUrl:
    """ASGI middleware: a path or query string with a NUL is a 400 problem before any route runs.

    Postgres cannot store or compare NUL in text, so such a value could only ever fail deeper in (as a
    500 before). Bodies are covered by the text rules above and, as a last line, by the problem handler
    that answers Postgres data errors with 422. Two byte searches per request; no decoding.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
            has_nul(scope.get("raw_path") or scope["path"].encode()) or has_nul(scope.get("query_string", b""))
        ):
            from hearth_kit.problems import problem_response

            resp = problem_response(None, status=400, detail="NUL characters are not allowed in the URL",
                                    slug="nul-in-url", instance=scope["path"].replace("\x00", ""))
            await resp(scope, receive, send)
            return
        await self.app(scope, receive, send)
