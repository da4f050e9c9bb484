"""Endpoints: created with a secret shown once and sealed at rest; CRUD; bad input; isolation on every route."""

from __future__ import annotations

from typing import Any

import pytest
from hearth_kit.ids import new_id
from hearth_kit.testing import ServiceHarness
from webhooks_helpers import Receiver, mk_endpoint, unique_path

pytestmark = pytest.mark.integration

BASE = "/v1/webhooks"


async def _count(h: ServiceHarness, org: str, table: str) -> int:
    async with h.raw(org_id=org) as conn:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))


async def test_create_shows_the_secret_once_and_stores_it_sealed(
        hooks: ServiceHarness, receiver: Receiver, org_id: str) -> None:
    endpoint = await mk_endpoint(hooks, org_id, receiver.url(unique_path()), description="ops",
                                 event_types=["hearth.lease.*", "hearth.alert.raised.v1"], ordered=True,
                                 rate_limit=50, max_concurrency=4)
    assert endpoint["secret"].startswith("whsec_")
    assert endpoint["id"].startswith("whep_") and endpoint["status"] == "enabled"
    assert endpoint["event_types"] == ["hearth.alert.raised.v1", "hearth.lease.*"]
    assert (endpoint["ordered"], endpoint["rate_limit"], endpoint["max_concurrency"]) == (True, 50, 4)
    got = await hooks.client.get(f"{BASE}/endpoints/{endpoint['id']}", headers=hooks.headers(org_id=org_id))
    assert got.status_code == 200 and "secret" not in got.json()["data"]
    listed = await hooks.client.get(f"{BASE}/endpoints", headers=hooks.headers(org_id=org_id))
    assert [e["id"] for e in listed.json()["data"]] == [endpoint["id"]]
    assert listed.json()["meta"] == {"total": 1, "page": 1, "limit": 20}
    assert "secret" not in listed.json()["data"][0]
    async with hooks.raw(org_id=org_id) as conn:
        stored = await conn.fetchval("SELECT secret FROM endpoints WHERE id = $1", endpoint["id"])
    assert stored.startswith("fernet:") and endpoint["secret"] not in stored
    assert endpoint["secret"].removeprefix("whsec_") not in stored


async def test_idempotency_key_replays_the_creation(hooks: ServiceHarness, receiver: Receiver, org_id: str) -> None:
    body = {"url": receiver.url(unique_path())}
    headers = {**hooks.headers(org_id=org_id), "Idempotency-Key": "create-1"}
    first = await hooks.client.post(f"{BASE}/endpoints", json=body, headers=headers)
    again = await hooks.client.post(f"{BASE}/endpoints", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["data"]["secret"].startswith("whsec_")
    # the replay is the same endpoint, but the secret was shown once: the replay says null
    assert again.json() == {"data": {**first.json()["data"], "secret": None}}
    assert await _count(hooks, org_id, "endpoints") == 1
    async with hooks.raw(org_id=org_id) as conn:
        stored = await conn.fetchval("SELECT body::text FROM idempotency_keys")
    assert first.json()["data"]["secret"] not in stored  # the replay store never holds the secret


async def test_patch_and_delete(hooks: ServiceHarness, receiver: Receiver, org_id: str) -> None:
    endpoint = await mk_endpoint(hooks, org_id, receiver.url(unique_path()))
    url = f"{BASE}/endpoints/{endpoint['id']}"
    patched = await hooks.client.patch(url, json={"description": "new", "event_types": ["hearth.unit.*"],
                                                  "rate_limit": None, "status": "disabled"},
                                       headers=hooks.headers(org_id=org_id))
    assert patched.status_code == 200, patched.text
    data = patched.json()["data"]
    assert (data["description"], data["event_types"], data["status"]) == ("new", ["hearth.unit.*"], "disabled")
    assert (await hooks.client.delete(url, headers=hooks.headers(org_id=org_id))).status_code == 204
    assert (await hooks.client.get(url, headers=hooks.headers(org_id=org_id))).status_code == 404


async def test_if_match_guards_patch_and_delete(hooks: ServiceHarness, receiver: Receiver, org_id: str) -> None:
    endpoint = await mk_endpoint(hooks, org_id, receiver.url(unique_path()))
    url = f"{BASE}/endpoints/{endpoint['id']}"
    headers = hooks.headers(org_id=org_id)
    got = await hooks.client.get(url, headers=headers)
    etag = got.headers["etag"]
    changed = await hooks.client.patch(url, json={"description": "first"}, headers={**headers, "If-Match": etag})
    assert changed.status_code == 200, changed.text
    assert changed.headers["etag"] != etag
    stale = await hooks.client.patch(url, json={"description": "second"}, headers={**headers, "If-Match": etag})
    assert stale.status_code == 412, stale.text
    assert stale.headers["content-type"].startswith("application/problem+json")
    assert (await hooks.client.delete(url, headers={**headers, "If-Match": etag})).status_code == 412
    assert (await hooks.client.get(url, headers=headers)).json()["data"]["description"] == "first"
    assert (await hooks.client.delete(url, headers={**headers, "If-Match": changed.headers["etag"]})).status_code \
        == 204


async def test_event_types_come_from_the_contracts(hooks: ServiceHarness, org_id: str) -> None:
    resp = await hooks.client.get(f"{BASE}/event-types", headers=hooks.headers(org_id=org_id))
    types = {t["type"]: t["description"] for t in resp.json()["data"]}
    assert "hearth.lease.activated.v1" in types and "hearth.alert.raised.v1" in types
    assert "hearth.webhook_endpoint.disabled.v1" in types
    assert all(t.startswith("hearth.") for t in types)


BAD_BODIES: list[tuple[str, dict[str, Any]]] = [
    ("no url", {}),
    ("ftp url", {"url": "ftp://example.com/x"}),
    ("nul in url", {"url": "http://127.0.0.1/\x00"}),
    ("credentials", {"url": "http://u:p@127.0.0.1/x"}),
    ("unknown type", {"url": "http://127.0.0.1/x", "event_types": ["hearth.nothing.happened.v1"]}),
    ("bad pattern", {"url": "http://127.0.0.1/x", "event_types": ["hearth.*.v1"]}),
    ("empty types", {"url": "http://127.0.0.1/x", "event_types": []}),
    ("zero rate", {"url": "http://127.0.0.1/x", "rate_limit": 0}),
    ("huge rate", {"url": "http://127.0.0.1/x", "rate_limit": 10**20}),
    ("extra field", {"url": "http://127.0.0.1/x", "secret": "whsec_mine"}),
    ("private address", {"url": "http://10.0.0.5/hook"}),
    ("metadata address", {"url": "http://169.254.169.254/latest"}),
    ("ipv6 loopback", {"url": "http://[::1]/x"}),
    ("multicast", {"url": "http://224.0.0.1/x"}),
    ("unresolvable", {"url": "http://no-such-host.invalid/x"}),
]


@pytest.mark.parametrize(("case", "body"), BAD_BODIES, ids=[c for c, _ in BAD_BODIES])
async def test_bad_input_is_a_problem_and_writes_nothing(hooks: ServiceHarness, org_id: str, case: str,
                                                         body: dict[str, Any]) -> None:
    resp = await hooks.client.post(f"{BASE}/endpoints", json=body, headers=hooks.headers(org_id=org_id))
    assert resp.status_code == 422, (case, resp.text)
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert await _count(hooks, org_id, "endpoints") == 0


async def test_bad_patch_replay_and_filters(hooks: ServiceHarness, receiver: Receiver, org_id: str) -> None:
    endpoint = await mk_endpoint(hooks, org_id, receiver.url(unique_path()))
    h = hooks.headers(org_id=org_id)
    url = f"{BASE}/endpoints/{endpoint['id']}"
    for body in ({}, {"url": None}, {"url": "http://10.1.1.1/x"}, {"status": "paused"}, {"event_types": ["x.*"]}):
        resp = await hooks.client.patch(url, json=body, headers=h)
        assert resp.status_code == 422, (body, resp.text)
    for replay in ({}, {"since": "2026-01-01T00:00:00Z", "from_sequence": 1}, {"since": "yesterday"},
                   {"since": "2026-01-01T00:00:00"}, {"from_sequence": 0}, {"from_sequence": 10**30},
                   {"since": "0001-01-01T00:00:00+01:00"}, {"since": "9999-12-31T23:00:00-05:00"}):
        resp = await hooks.client.post(f"{url}/replay", json=replay, headers=h)
        assert resp.status_code == 422, (replay, resp.text)
    for params in ({"status": "weird"}, {"since": "nope"}, {"limit": 1000},
                   {"since": "0001-01-01T00:00:00+01:00"}, {"since": "9999-12-31T23:00:00-05:00"}):
        resp = await hooks.client.get(f"{url}/deliveries", params=params, headers=h)
        assert resp.status_code == 422, (params, resp.text)
    # a NUL anywhere in the URL is refused by the kit's edge before any route runs
    nul = await hooks.client.get(f"{url}/deliveries", params={"event_type": "x\x00"}, headers=h)
    assert nul.status_code == 400 and nul.headers["content-type"].startswith("application/problem+json")
    assert (await hooks.client.get(url, headers=h)).json()["data"]["updated_at"] == endpoint["updated_at"]


async def test_read_only_callers_cannot_change_anything(hooks: ServiceHarness, receiver: Receiver,
                                                        org_id: str) -> None:
    endpoint = await mk_endpoint(hooks, org_id, receiver.url(unique_path()))
    h = hooks.headers(org_id=org_id, role="partner")
    url = f"{BASE}/endpoints/{endpoint['id']}"
    calls = [hooks.client.post(f"{BASE}/endpoints", json={"url": receiver.url("/x")}, headers=h),
             hooks.client.patch(url, json={"description": "x"}, headers=h),
             hooks.client.delete(url, headers=h),
             hooks.client.post(f"{url}/rotate-secret", headers=h),
             hooks.client.post(f"{url}/test", headers=h),
             hooks.client.post(f"{url}/replay", json={"from_sequence": 1}, headers=h)]
    for call in calls:
        assert (await call).status_code == 403


async def test_another_orgs_ids_are_not_found_on_every_route(hooks: ServiceHarness, receiver: Receiver,
                                                             org_id: str) -> None:
    endpoint = await mk_endpoint(hooks, org_id, receiver.url(unique_path()))
    ping = await hooks.client.post(f"{BASE}/endpoints/{endpoint['id']}/test", headers=hooks.headers(org_id=org_id))
    delivery_id = ping.json()["data"]["id"]
    other = hooks.headers(org_id=new_id("org"))
    url = f"{BASE}/endpoints/{endpoint['id']}"
    calls = [hooks.client.get(url, headers=other),
             hooks.client.patch(url, json={"description": "stolen"}, headers=other),
             hooks.client.delete(url, headers=other),
             hooks.client.post(f"{url}/rotate-secret", headers=other),
             hooks.client.post(f"{url}/test", headers=other),
             hooks.client.get(f"{url}/deliveries", headers=other),
             hooks.client.post(f"{url}/replay", json={"from_sequence": 1}, headers=other),
             hooks.client.post(f"{BASE}/deliveries/{delivery_id}/retry", headers=other)]
    for call in calls:
        resp = await call
        assert resp.status_code == 404, resp.text
        assert endpoint["id"] not in resp.text or "not found" in resp.text
    listed = await hooks.client.get(f"{BASE}/endpoints", headers=other)
    assert listed.json()["data"] == []
    mine = await hooks.client.get(url, headers=hooks.headers(org_id=org_id))
    assert mine.json()["data"]["description"] == "" and mine.json()["data"]["last_sequence"] == 1


async def test_odd_ids_are_not_found(hooks: ServiceHarness, org_id: str) -> None:
    h = hooks.headers(org_id=org_id)
    for path in (f"{BASE}/endpoints/nope", f"{BASE}/endpoints/whep_{'x' * 500}"):
        assert (await hooks.client.get(path, headers=h)).status_code == 404
    assert (await hooks.client.get(f"{BASE}/endpoints/%00", headers=h)).status_code == 400  # the kit's NUL rule
    assert (await hooks.client.post(f"{BASE}/deliveries/msg_zz/retry", headers=h)).status_code == 404
