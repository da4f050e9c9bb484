"""The kit's input rules, case by case: money, text, identifiers, dates, NUL in URLs, error caps, 503s."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import jwt
import pytest
from fastapi import FastAPI
from hearth_kit.auth import InternalTokenVerifier, SigningKey, jwks
from hearth_kit.http import create_http_app
from hearth_kit.problems import MAX_LISTED_ERRORS, Problem
from hearth_kit.rules import (
    Amount,
    CurrencyCode,
    Day,
    Identifier,
    Name,
    Text,
    check_amount_for_currency,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class Money(BaseModel):
    amount: Amount
    currency: CurrencyCode


class Named(BaseModel):
    name: Name = Field(min_length=1, max_length=50)
    note: Text | None = None


class Ids(BaseModel):
    ids: list[Identifier]


class Dated(BaseModel):
    day: Day


def _refused(model: type[BaseModel], **fields: Any) -> bool:
    try:
        model.model_validate(fields)
    except ValidationError:
        return True
    return False


@pytest.mark.parametrize("amount", [
    "١٢٣",      # Arabic-Indic digits (Decimal() would read 123)
    "\uff11\uff12",  # full-width digits
    "1_000",    # separators (Decimal() would read 1000)
    " 100 ",    # padding
    "+5", "-0", "-5", "1e3", "1E3", "NaN", "Infinity", "inf", "0x10", "", ".", ".5", "5.", "1.2.3", "1,000",
    "12\x00", "1" * 41, -1, 1e30, float("nan"), float("inf"), True, None, [1], {"a": 1},
])
def test_amounts_written_any_other_way_than_ascii_digits_are_refused(amount: Any) -> None:
    assert _refused(Money, amount=amount, currency="EUR")


@pytest.mark.parametrize(("amount", "expected"), [
    ("850000.00", Decimal("850000.00")), ("0", Decimal(0)), ("0.5", Decimal("0.5")), (850000, Decimal(850000)),
    (12.5, Decimal("12.5")), ("007", Decimal(7)),
])
def test_plain_amounts_and_json_numbers_are_read_exactly(amount: Any, expected: Decimal) -> None:
    assert Money.model_validate({"amount": amount, "currency": "EUR"}).amount == expected


@pytest.mark.parametrize("currency", [
    "ABC", "XAU", "XXX", "EU", "EURO", "€", "\uff25\uff35\uff32", "", 978, None, "E\x00R",
])
def test_currencies_outside_iso_4217_money_are_refused(currency: Any) -> None:
    assert _refused(Money, amount="1", currency=currency)


@pytest.mark.parametrize(("currency", "expected"), [("eur", "EUR"), ("JPY", "JPY"), ("kwd", "KWD")])
def test_currencies_are_upper_cased_iso_codes(currency: str, expected: str) -> None:
    assert Money.model_validate({"amount": "1", "currency": currency}).currency == expected


@pytest.mark.parametrize(("amount", "currency", "ok"), [
    ("10", "JPY", True), ("100.00", "JPY", True), ("10.5", "JPY", False), ("10.55", "EUR", True),
    ("10.555", "EUR", False), ("10.550", "EUR", True), ("1.234", "KWD", True), ("1.2345", "KWD", False),
])
def test_decimals_follow_the_currency_minor_units(amount: str, currency: str, ok: bool) -> None:
    if ok:
        check_amount_for_currency(Decimal(amount), currency)
    else:
        with pytest.raises(ValueError, match="decimals"):
            check_amount_for_currency(Decimal(amount), currency)


@pytest.mark.parametrize("name", [
    "a\x00", "\x00", "\u200b\u200b",          # NUL; only zero-width spaces
    "\u200d\u200c\ufeff", "\x01\x02",         # joiners and BOM only; control characters
    "evil\u202etxt.exe", "a\u2066b",           # bidi override, isolate
    "line\nbreak", "tab\tname", "\x7f", "\u0085", "   ", "\u3000\u00a0",
])
def test_names_that_are_invisible_or_misleading_are_refused(name: str) -> None:
    assert _refused(Named, name=name)


@pytest.mark.parametrize(("name", "expected"), [
    ("  Maple Court  ", "Maple Court"), ("Ünïcödé 名前 مبنى", "Ünïcödé 名前 مبنى"), ("O'Brien-Smith", "O'Brien-Smith"),
    ("emoji 🏠", "emoji 🏠"),
    ("family 👨\u200d👩\u200d👧", "family 👨\u200d👩\u200d👧"),  # ZWJ inside visible text is fine
])
def test_ordinary_names_pass_trimmed(name: str, expected: str) -> None:
    assert Named.model_validate({"name": name}).name == expected


@pytest.mark.parametrize(("note", "ok"), [("line one\nline two\ttabbed", True), ("a\x00b", False), ("\u202e", False)])
def test_free_text_allows_line_breaks_but_not_nul_or_bidi(note: str, ok: bool) -> None:
    assert _refused(Named, name="x", note=note) is not ok


@pytest.mark.parametrize(("ident", "ok"), [
    ("unt_01HZX", True), ("a" * 64, True), ("a" * 65, False), ("", False), ("unt_\x00", False), ("ünt", False),
    ("a b", False), ("a/b", False),
])
def test_identifiers_are_short_printable_ascii(ident: str, ok: bool) -> None:
    assert _refused(Ids, ids=[ident]) is not ok


@pytest.mark.parametrize(("day", "ok"), [
    ("2025-01-01", True), ("1900-01-01", True), ("2200-12-31", True),
    ("0001-01-01", False), ("1899-12-31", False), ("2201-01-01", False), ("9999-12-31", False),
])
def test_dates_stay_within_years_1900_to_2200(day: str, ok: bool) -> None:
    assert _refused(Dated, day=day) is not ok
    if ok:
        assert Dated.model_validate({"day": day}).day == date.fromisoformat(day)


# --- through HTTP: the kit's app answers problems, never 500 ---------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name = Field(min_length=1, max_length=50)


def _app() -> FastAPI:
    app = create_http_app(service="rules-test")

    @app.get("/v1/things/{thing_id}")
    async def get_thing(thing_id: str, q: str | None = None) -> dict[str, Any]:
        return {"id": thing_id, "q": q}

    @app.post("/v1/things")
    async def post_thing(body: _Body) -> dict[str, Any]:
        return body.model_dump()

    @app.get("/v1/db/{kind}")
    async def db_failure(kind: str) -> dict[str, Any]:
        failures: dict[str, Exception] = {
            "refused": ConnectionRefusedError(111, "Connect call failed"),
            "closed": asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle"),
            "shutdown": asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
            "starting": asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
            "interface": asyncpg.InterfaceError("connection is closed"),
            "pool-timeout": TimeoutError(),
            "nul": asyncpg.exceptions.CharacterNotInRepertoireError("invalid byte sequence for encoding UTF8: 0x00"),
            "range": asyncpg.exceptions.NumericValueOutOfRangeError("bigint out of range"),
        }
        raise failures[kind]

    @app.get("/v1/problem")
    async def problem() -> None:
        raise Problem(409, "conflict")

    return app


async def _call(method: str, url: str, **kw: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.request(method, url, **kw)


@pytest.mark.parametrize("url", ["/v1/things/%00", "/v1/things/a%00b", "/v1/things/x?q=%00", "/v1/things/x?q%00=1",
                                 "/v1/things/x?q=a%00"])
async def test_nul_in_path_or_query_is_a_400_problem(url: str) -> None:
    r = await _call("GET", url)
    assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith("/nul-in-url") and r.headers["x-request-id"]


async def test_nul_in_a_json_name_is_a_422_problem() -> None:
    r = await _call("POST", "/v1/things", json={"name": "a\u0000"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "name"


async def test_a_422_for_many_unknown_keys_lists_a_bounded_number_of_errors() -> None:
    body = {"name": "ok", **{f"unknown_{i}": i for i in range(40_000)}}
    payload = json.dumps(body).encode()
    r = await _call("POST", "/v1/things", content=payload, headers={"content-type": "application/json"})
    assert r.status_code == 422
    problem = r.json()
    assert len(problem["errors"]) == MAX_LISTED_ERRORS and problem["errors_total"] == 40_000
    assert len(r.content) < 10_000 < len(payload)


@pytest.mark.parametrize("kind", ["refused", "closed", "shutdown", "starting", "interface", "pool-timeout"])
async def test_database_unreachable_is_a_503_with_retry_after(kind: str) -> None:
    r = await _call("GET", f"/v1/db/{kind}")
    assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"
    assert int(r.headers["retry-after"]) > 0 and r.json()["type"].endswith("/database-unavailable")


@pytest.mark.parametrize("kind", ["nul", "range"])
async def test_values_postgres_cannot_hold_are_a_422_not_a_500(kind: str) -> None:
    r = await _call("GET", f"/v1/db/{kind}")
    assert r.status_code == 422 and r.json()["type"].endswith("/unrepresentable-value")


def test_an_internal_token_claiming_es256_with_a_known_kid_is_a_401() -> None:
    key = SigningKey.generate("k1")
    verifier = InternalTokenVerifier(json.dumps(jwks(key)))
    header = jwt.utils.base64url_encode(json.dumps({"alg": "ES256", "kid": "k1", "typ": "JWT"}).encode())
    claims = jwt.utils.base64url_encode(json.dumps({"sub": "x", "org": "org_1", "role": "admin"}).encode())
    forged = b".".join([header, claims, jwt.utils.base64url_encode(b"\x01" * 64)]).decode()
    with pytest.raises(Problem) as caught:
        verifier.verify(forged)
    assert caught.value.status == 401
