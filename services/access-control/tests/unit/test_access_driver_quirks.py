"""The driver's handling of seed 001's inconsistencies, on canned answers (no sockets)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hearth_access.vendor.driver import AurmurDriver, RetryPolicy, VendorRequestError, parse_vendor_time, vendor_time


def driver(handler: Any) -> AurmurDriver:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return AurmurDriver(base_url="http://vendor.test", permanent_token="perm", client=client,
                        policy=RetryPolicy(attempts=2, backoff_seconds=0))


@pytest.mark.parametrize("token_doc", [
    {"temporary-token": "t1", "expiration-epoch": 4102444800},
    {"temporary-token": "t1", "epoch-time": "4102444800"},
    {"temporary_token": "t1", "expiration-epoch": 4102444800000},  # milliseconds
])
async def test_token_field_spellings(token_doc: dict[str, Any]) -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/v1/authentication"):
            assert request.headers["x-permanent-token"] == "perm"
            return httpx.Response(200, json=token_doc)
        seen.append(request.headers.get("x-temporary-token"))
        return httpx.Response(200, json=[{"listing-id": "L1", "code-length": 6, "timezone": ["US/Pacific"],
                                          "linked-locks": ["a"]}])

    [listing] = await driver(handler).list_listings()
    assert seen == ["t1"] and listing.timezone == "US/Pacific" and listing.code_length == 6


async def test_event_kind_from_type_and_code_as_number() -> None:
    sent: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/v1/authentication"):
            return httpx.Response(200, json={"temporary-token": "t", "expiration-epoch": 4102444800})
        if request.url.path == "/v1/lockevents":
            return httpx.Response(200, json=[{"lock-event-id": "e", "lock-id": "a", "action": "unlocked",
                                              "method": "keypad", "type": "guest", "event-epoch": 1573494097}])
        sent.append(json.loads(request.content))
        return httpx.Response(200, json={"code-id": "c1"})

    drv = driver(handler)
    [event] = await drv.lock_events()
    assert event.kind == "guest" and event.at.year == 2019
    from hearth_access.vendor.driver import CodeSchedule
    assert await drv.create_code(name="n", listing_id="L", code="5931", timezone="US/Eastern",
                                 schedule=CodeSchedule(manual="activated")) == "c1"
    assert sent[0]["code"] == 5931 and sent[0]["manual"] == "activated"
    with pytest.raises(VendorRequestError):
        await drv.create_code(name="n", listing_id="L", code="0931", timezone="US/Eastern",
                              schedule=CodeSchedule(manual="activated"))


async def test_413_and_414_are_the_callers_error_and_not_retried() -> None:
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/v1/authentication"):
            return httpx.Response(200, json={"temporary-token": "t", "expiration-epoch": 4102444800})
        calls["n"] += 1
        return httpx.Response(414, json={"message": "Invalid Request"})

    with pytest.raises(VendorRequestError):
        await driver(handler).list_codes()
    assert calls["n"] == 1


def test_vendor_time_round_trip_in_a_us_zone() -> None:
    moment = parse_vendor_time("11/27/2019 09:00 AM", "US/Pacific")
    assert vendor_time(moment, "US/Pacific") == "11/27/2019 09:00 AM"
    assert vendor_time(moment, "US/Eastern") == "11/27/2019 12:00 PM"
