"""A small, realistic portfolio for the demo org, created through the gateway by `make up` (once).

Called as `demo_seed` from deploy/platform.toml with the gateway URL and the demo org's API key. It talks
to the public API like any client would, so the demo data also shows what a client does. A second
`make up` finds the first building already there and adds nothing.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import date, timedelta
from typing import Any

BUILDINGS: list[dict[str, Any]] = [
    {"name": "Harbor View Apartments", "type": "residential", "timezone": "America/New_York",
     "address": {"line1": "120 Water Street", "city": "New York", "region": "NY", "postal_code": "10005",
                 "country": "US"}},
    {"name": "Lakeside Lofts", "type": "mixed", "timezone": "America/Chicago",
     "address": {"line1": "400 N Lake Shore Dr", "city": "Chicago", "region": "IL", "postal_code": "60611",
                 "country": "US"}},
    {"name": "Mission Street Commons", "type": "residential", "timezone": "America/Los_Angeles",
     "address": {"line1": "2100 Mission Street", "city": "San Francisco", "region": "CA", "postal_code": "94110",
                 "country": "US"}},
]
RESIDENTS: list[dict[str, Any]] = [
    {"name": "Maria Gonzalez", "email": "maria.gonzalez@example.com", "phone": "+12125550101"},
    {"name": "James Okafor", "email": "james.okafor@example.com", "phone": "+13125550102"},
    {"name": "Priya Raman", "email": "priya.raman@example.com", "phone": "+14155550103"},
    {"name": "Tom Becker", "email": "tom.becker@example.com", "phone": "+12125550104"},
]
UNITS_PER_BUILDING = 4


class _Api:
    def __init__(self, gateway_url: str, api_key: str) -> None:
        self.base = gateway_url.rstrip("/")
        self.key = api_key

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method, headers={  # noqa: S310
            "Authorization": f"Bearer {self.key}", "content-type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=15) as resp:  # noqa: S310 (the local gateway)
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            raise RuntimeError(f"{method} {path}: {err.code} {err.read()[:300]!r}") from err


def seed(gateway_url: str, api_key: str) -> None:
    """Three buildings with units, four residents and three active leases, unless already there."""
    api = _Api(gateway_url, api_key)
    first = BUILDINGS[0]["name"]
    if api.call("GET", "/v1/buildings?q=" + urllib.parse.quote(first))["meta"]["total"]:
        return
    units: list[dict[str, Any]] = []
    for b, building in enumerate(BUILDINGS):
        created = api.call("POST", "/v1/buildings", building)["data"]
        batch = [{"building_id": created["id"], "name": f"Apartment {floor}{letter}",
                  "unit_number": f"{floor}{letter}", "type": "apartment", "bedrooms": 1 + (floor + b) % 3,
                  "bathrooms": 1, "price": {"amount": str(2400 + 350 * floor + 100 * b), "currency": "USD"},
                  "size": {"interior": 55 + 15 * floor, "unit": "sqm"}, "visibility": "public"}
                 for floor in (1, 2) for letter in ("A", "B")][:UNITS_PER_BUILDING]
        units += api.call("POST", "/v1/units/bulk", {"units": batch})["data"]
    residents = [api.call("POST", "/v1/residents", r)["data"] for r in RESIDENTS]
    start = date.today().replace(day=1) - timedelta(days=150)
    for i, resident in enumerate(residents[:3]):
        unit = units[i * UNITS_PER_BUILDING]
        api.call("POST", "/v1/leases", {
            "unit_id": unit["id"], "resident_ids": [resident["id"]], "type": "fixed",
            "start_date": (start.replace(day=1)).isoformat(),
            "end_date": (start.replace(year=start.year + 1) - timedelta(days=1)).isoformat(),
            "rent": unit["price"], "deposit": unit["price"], "payment_due_day": 1,
        })
