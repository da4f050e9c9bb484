"""Hostile input at the property service: every case is a 4xx problem+json and changes nothing (#9)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from hearth_kit.auth import INTERNAL_TOKEN_HEADER
from hearth_kit.ids import new_id
from hearth_kit.testing import ServiceHarness
from hearth_kit.testing.services import TEST_SIGNER
from property_helpers import building_body, lease_body, mk_building, mk_resident, mk_unit, unit_body

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"
B = "bld_placeholder"  # replaced by a real building id in the test


def _unit(**over: Any) -> dict[str, Any]:
    return unit_body(B, **over)


def _price(amount: Any, currency: str = "USD") -> dict[str, Any]:
    return _unit(price={"amount": amount, "currency": currency})


# (method, path, json body or None, expected status)
CASES: list[tuple[str, str, Any, int]] = [
    # NUL anywhere
    ("GET", "/v1/buildings?q=%00", None, 400),
    ("GET", "/v1/units/%00", None, 400),
    ("GET", "/v1/buildings/bld_%00x", None, 400),
    ("POST", "/v1/buildings", building_body(name="a\u0000"), 422),
    ("POST", "/v1/buildings", building_body(address={"line1": "x\u0000", "city": "Berlin", "country": "DE"}), 422),
    ("POST", "/v1/units", _unit(features=["pool\u0000"]), 422),
    ("POST", "/v1/units", _unit(gallery=["https://x/\u0000.jpg"]), 422),
    ("PATCH", "/v1/units/bulk/status", {"unit_ids": ["unit_\u0000"], "status": "sold"}, 422),
    ("POST", "/v1/residents", {"name": "Jane\u0000"}, 422),
    ("POST", "/v1/agents", {"name": "Sam", "email": "s\u0000@x.io"}, 422),
    # numbers past the columns
    ("GET", "/v1/units?min_price=1e30", None, 422),
    ("GET", "/v1/units?max_price=1e30", None, 422),
    ("GET", "/v1/units?min_size=1e30", None, 422),
    ("GET", "/v1/units?min_price=NaN", None, 422),
    ("POST", "/v1/units", _price("1" * 20), 422),
    # amounts written in other ways
    *[("POST", "/v1/units", _price(a), 422) for a in ("١٢٣", "\uff11\uff12", "1_000", " 100 ", "+5", "-0", "1e3")],
    ("POST", "/v1/units", _price("10", "ABC"), 422),
    ("POST", "/v1/units", _price("10.5", "JPY"), 422),
    # invisible or misleading names
    ("POST", "/v1/buildings", building_body(name="\u200b\u200c"), 422),
    ("POST", "/v1/buildings", building_body(name="\x01\x02"), 422),
    ("POST", "/v1/buildings", building_body(name="abc\u202etxt"), 422),
    ("POST", "/v1/residents", {"name": "\u2066\u2069"}, 422),
    # dates the domain cannot compute with
    ("POST", "/v1/leases", lease_body("unit_x", ["res_x"], "2025-01-01", "9999-12-31"), 422),
    ("POST", "/v1/leases", lease_body("unit_x", ["res_x"], "0001-01-01", "2025-12-31"), 422),
]


@pytest.mark.parametrize(("method", "path", "body", "status"), CASES)
async def test_hostile_input_is_a_client_error_that_changes_nothing(
    prop: ServiceHarness, method: str, path: str, body: Any, status: int,
) -> None:
    org = new_id("org")
    building = await mk_building(prop, org)
    headers = prop.headers(org_id=org)
    if isinstance(body, dict) and body.get("building_id") == B:
        body = {**body, "building_id": building["id"]}
    before = await prop.client.get("/v1/units", headers=headers)
    resp = await prop.client.request(method, path, json=body, headers=headers)
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == PROBLEM
    after = await prop.client.get("/v1/units", headers=headers)
    assert after.json()["meta"]["total"] == before.json()["meta"]["total"]
    buildings = await prop.client.get("/v1/buildings", headers=headers)
    assert buildings.json()["meta"]["total"] == 1


async def test_a_lease_ending_in_year_9999_on_real_records_is_refused(prop: ServiceHarness) -> None:
    org = new_id("org")
    building = await mk_building(prop, org)
    unit = await mk_unit(prop, org, building["id"])
    resident = await mk_resident(prop, org)
    body = lease_body(unit["id"], [resident["id"]], "2025-01-01", "9999-12-31")
    resp = await prop.client.post("/v1/leases", json=body, headers=prop.headers(org_id=org))
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "end_date"
    leases = await prop.client.get("/v1/leases", headers=prop.headers(org_id=org))
    assert leases.json()["meta"]["total"] == 0


async def test_an_internal_token_claiming_es256_with_the_known_kid_is_a_401(prop: ServiceHarness) -> None:
    def b64(doc: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()

    now = int(time.time())
    claims = {"iss": TEST_SIGNER.issuer, "aud": TEST_SIGNER.audience, "iat": now, "exp": now + 60,
              "sub": "key_x", "org": new_id("org"), "role": "admin", "scopes": []}
    forged = ".".join([b64({"alg": "ES256", "kid": TEST_SIGNER.key.kid, "typ": "JWT"}), b64(claims), "c2ln" * 16])
    resp = await prop.client.get("/v1/buildings", headers={INTERNAL_TOKEN_HEADER: forged})
    assert resp.status_code == 401, resp.text
    assert resp.headers["content-type"] == PROBLEM
