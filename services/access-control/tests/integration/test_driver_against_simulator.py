"""The vendor driver against the simulator over real HTTP: every seed-001 endpoint it uses, tokens, faults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from access_helpers import FAST, driver, new_account
from hearth_access.vendor.driver import (
    AurmurDriver,
    CodeSchedule,
    MemoryTokenStore,
    RetryPolicy,
    TemporaryToken,
    VendorAuthError,
    VendorConflict,
    VendorNotFound,
    VendorRequestError,
    VendorTimeout,
    VendorUnavailable,
)


async def test_every_endpoint_round_trip(sim: httpx.AsyncClient, sim_url: str, http: httpx.AsyncClient) -> None:
    acct = await new_account(sim, units=1, locks_per_unit=2)
    drv = driver(sim_url, acct, http)
    locks = await drv.list_locks()
    assert {lk.lock_id for lk in locks} == set(acct["locks"])
    listings = await drv.list_listings()
    unit = next(li for li in listings if li.name == "Unit 1")
    assert unit.code_length == 4 and unit.timezone == "US/Eastern" and len(unit.linked_locks) == 2
    door = unit.linked_locks[0]

    await drv.unlock(door)
    status = {s.lock_id: s for s in await drv.lock_status()}
    assert status[door].state == "unlocked" and status[door].battery is not None
    await drv.lock(door)
    assert (await drv.lock_status(door))[0].state == "locked"
    events = await drv.lock_events(door)
    assert [e.action for e in events[:2]] == ["locked", "unlocked"] and events[0].method == "api"

    code_id = await drv.create_code(name="code_a", listing_id=unit.listing_id, code="4821", timezone=unit.timezone,
                                    schedule=CodeSchedule(manual="activated"))
    codes = {c.code_id: c for c in await drv.list_codes()}
    assert codes[code_id].lock_status == dict.fromkeys(unit.linked_locks, "activated")
    # keypad use: seed-001 event with `type` (not `kind`) and the code id
    resp = await sim.post(f"/_sim/accounts/{acct['account_id']}/keypad", json={"lock_id": door, "code": "4821"})
    assert resp.json()["accepted"] is True
    used = (await drv.lock_events(door))[0]
    assert (used.action, used.method, used.kind, used.code_id) == ("unlocked", "keypad", "programmed", code_id)

    await drv.update_code(code_id, timezone=unit.timezone, schedule=CodeSchedule(manual="deactivated"))
    assert {c.code_id: c for c in await drv.list_codes()}[code_id].status == "deactivated"
    await drv.delete_code(code_id)
    await drv.delete_code(code_id)  # already gone: still fine
    assert code_id not in {c.code_id for c in await drv.list_codes()}


async def test_date_range_goes_out_in_the_listing_zone(sim: httpx.AsyncClient, sim_url: str,
                                                       http: httpx.AsyncClient) -> None:
    acct = await new_account(sim, timezone="US/Pacific")
    drv = driver(sim_url, acct, http)
    unit = next(li for li in await drv.list_listings() if li.name == "Unit 1")
    start = datetime(2031, 3, 3, 17, 0, tzinfo=UTC)  # 09:00 AM in Los Angeles (PST)
    code_id = await drv.create_code(name="range", listing_id=unit.listing_id, code="5931", timezone=unit.timezone,
                                    schedule=CodeSchedule(start=start, end=start + timedelta(hours=2, minutes=15)))
    stored = (await sim.get(f"/_sim/accounts/{acct['account_id']}")).json()["codes"][code_id]
    assert stored["daterangestart"] == "03/03/2031 09:00 AM"
    assert stored["daterangeend"] == "03/03/2031 11:15 AM"
    # not yet active: the per-lock status says so
    assert {c.code_id: c for c in await drv.list_codes()}[code_id].status == "deactivated"


async def test_code_errors_are_answers_not_faults(sim: httpx.AsyncClient, sim_url: str,
                                                  http: httpx.AsyncClient) -> None:
    acct = await new_account(sim)
    drv = driver(sim_url, acct, http)
    unit = next(li for li in await drv.list_listings() if li.name == "Unit 1")
    with pytest.raises(VendorRequestError):  # a leading zero would be lost as a number: refused before sending
        await drv.create_code(name="z", listing_id=unit.listing_id, code="0123", timezone=unit.timezone,
                              schedule=CodeSchedule(manual="activated"))
    with pytest.raises(VendorRequestError) as wrong_length:  # 414 from the vendor
        await drv.create_code(name="long", listing_id=unit.listing_id, code="123456", timezone=unit.timezone,
                              schedule=CodeSchedule(manual="activated"))
    assert wrong_length.value.status == 414
    await drv.create_code(name="one", listing_id=unit.listing_id, code="7391", timezone=unit.timezone,
                          schedule=CodeSchedule(manual="activated"))
    with pytest.raises(VendorConflict):
        await drv.create_code(name="two", listing_id=unit.listing_id, code="7391", timezone=unit.timezone,
                              schedule=CodeSchedule(manual="activated"))
    with pytest.raises(VendorNotFound):
        await drv.unlock("no-such-lock")


async def test_retried_create_that_landed_is_found_by_name(sim: httpx.AsyncClient, sim_url: str,
                                                           http: httpx.AsyncClient) -> None:
    """The first create times out after the vendor stored it; the retry's 409 resolves to the same code."""
    acct = await new_account(sim)
    drv = driver(sim_url, acct, http, policy=RetryPolicy(attempts=3, backoff_seconds=0.01, timeout_seconds=0.3))
    unit = next(li for li in await drv.list_listings() if li.name == "Unit 1")
    await sim.post(f"/_sim/accounts/{acct['account_id']}/faults", json={"match": "POST codes", "hang_ms": 600})
    code_id = await drv.create_code(name="code_x", listing_id=unit.listing_id, code="8642", timezone=unit.timezone,
                                    schedule=CodeSchedule(manual="activated"))
    codes = [c for c in await drv.list_codes() if c.name == "code_x"]
    assert [c.code_id for c in codes] == [code_id]


async def test_token_is_minted_once_reused_and_refreshed_on_412(sim: httpx.AsyncClient, sim_url: str,
                                                                http: httpx.AsyncClient) -> None:
    acct = await new_account(sim)
    store = MemoryTokenStore()
    drv = AurmurDriver(base_url=sim_url, permanent_token=acct["permanent_token"], client=http, store=store,
                       policy=FAST)
    await drv.list_locks()
    await drv.list_locks()
    first = store.token
    calls = (await sim.get(f"/_sim/accounts/{acct['account_id']}")).json()["calls"]
    assert calls["POST authentication"] == 1 and calls["GET listlocks"] == 2
    # a second driver (a restart) reuses the stored token instead of minting
    again = AurmurDriver(base_url=sim_url, permanent_token=acct["permanent_token"], client=http, store=store,
                         policy=FAST)
    await again.list_locks()
    # the vendor expires the token early: 412 → one refresh, the call succeeds
    await sim.post(f"/_sim/accounts/{acct['account_id']}/expire-tokens")
    await drv.list_locks()
    assert store.token is not None and first is not None and store.token.token != first.token
    calls = (await sim.get(f"/_sim/accounts/{acct['account_id']}")).json()["calls"]
    assert calls["POST authentication"] == 2


async def test_refresh_before_expiry_and_411_reuses_the_current_token(sim: httpx.AsyncClient, sim_url: str,
                                                                      http: httpx.AsyncClient) -> None:
    acct = await new_account(sim, token_ttl_seconds=30, max_tokens=1)
    store = MemoryTokenStore()
    # a margin longer than the token's life: every call wants a fresh token, and the vendor refuses (411)
    policy = RetryPolicy(attempts=3, backoff_seconds=0.01, refresh_margin_seconds=60)
    drv = AurmurDriver(base_url=sim_url, permanent_token=acct["permanent_token"], client=http, store=store,
                       policy=policy)
    await drv.list_locks()  # mints the one token the account may hold
    held = store.token
    assert held is not None
    # within the margin the driver tries to refresh; the vendor says 411 (only one live token): keep using it
    store.token = TemporaryToken(held.token, held.expires_at)
    await drv.list_locks()
    assert store.token == held
    calls = (await sim.get(f"/_sim/accounts/{acct['account_id']}")).json()["calls"]
    assert calls["POST authentication"] == 2 and calls["GET listlocks"] == 2


async def test_an_expired_token_and_411_is_an_auth_error(sim: httpx.AsyncClient, sim_url: str,
                                                         http: httpx.AsyncClient) -> None:
    acct = await new_account(sim, max_tokens=0)
    with pytest.raises(VendorAuthError):
        await driver(sim_url, acct, http).list_locks()
    bad = dict(acct, permanent_token="wrong")
    with pytest.raises(VendorAuthError):
        await driver(sim_url, bad, http).list_locks()


@pytest.mark.parametrize("status", [429, 500, 502, 503, 505])
async def test_transient_answers_are_retried(sim: httpx.AsyncClient, sim_url: str, http: httpx.AsyncClient,
                                             status: int) -> None:
    acct = await new_account(sim)
    drv = driver(sim_url, acct, http)
    await sim.post(f"/_sim/accounts/{acct['account_id']}/faults",
                   json={"status": status, "count": 2, "match": "GET listlocks", "retry_after": 0})
    assert len(await drv.list_locks()) == 2
    calls = (await sim.get(f"/_sim/accounts/{acct['account_id']}")).json()["calls"]
    assert calls["GET listlocks"] == 3


async def test_retries_are_bounded(sim: httpx.AsyncClient, sim_url: str, http: httpx.AsyncClient) -> None:
    acct = await new_account(sim)
    drv = driver(sim_url, acct, http)
    await sim.post(f"/_sim/accounts/{acct['account_id']}/faults",
                   json={"status": 505, "count": 100, "match": "GET listlocks"})
    with pytest.raises(VendorUnavailable):
        await drv.list_locks()
    calls = (await sim.get(f"/_sim/accounts/{acct['account_id']}")).json()["calls"]
    assert calls["GET listlocks"] == FAST.attempts


async def test_garbage_and_timeouts(sim: httpx.AsyncClient, sim_url: str, http: httpx.AsyncClient) -> None:
    acct = await new_account(sim)
    drv = driver(sim_url, acct, http, policy=RetryPolicy(attempts=2, backoff_seconds=0.01, timeout_seconds=0.2))
    await drv.list_locks()
    await sim.post(f"/_sim/accounts/{acct['account_id']}/faults", json={"garbage": True, "count": 2})
    with pytest.raises(VendorUnavailable, match="not JSON"):
        await drv.list_locks()
    await sim.post(f"/_sim/accounts/{acct['account_id']}/faults", json={"hang_ms": 500, "count": 2})
    with pytest.raises(VendorTimeout):
        await drv.list_locks()
    assert len(await drv.list_locks()) == 2  # and it recovers


async def test_jammed_and_offline_locks(sim: httpx.AsyncClient, sim_url: str, http: httpx.AsyncClient) -> None:
    acct = await new_account(sim)
    drv = driver(sim_url, acct, http)
    door = next(iter(acct["locks"]))
    await sim.patch(f"/_sim/accounts/{acct['account_id']}/locks/{door}", json={"jammed": True})
    with pytest.raises(VendorConflict, match="jammed"):
        await drv.lock(door)
    assert (await drv.lock_status(door))[0].state == "unknown"
    assert (await drv.lock_events(door))[0].action == "jammed"
    await sim.patch(f"/_sim/accounts/{acct['account_id']}/locks/{door}", json={"jammed": False, "online": False})
    with pytest.raises(VendorTimeout):
        await drv.unlock(door)
    assert (await drv.lock_status(door))[0].minutes_since_update >= 60
