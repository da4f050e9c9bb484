"""Demo work orders for `make up`: a technician member and a few requests on property's demo buildings, one of
them assigned with a visit window, created through the gateway like any client would.

Called as `demo_seed` from deploy/platform.toml with the gateway URL and the demo org's API key. Idempotent and
resumable: the technician is found by e-mail and each request by its title, so a second run adds nothing and a
run stopped half-way finishes the rest.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

TECHNICIAN: dict[str, Any] = {"name": "Sam Rivera", "email": "sam.rivera@example.com", "phone": "+12125550199",
                              "role": "technician"}
# `unit`: index into the first building's units (None: the building itself); `assign`: to the technician.
REQUESTS: list[dict[str, Any]] = [
    {"title": "Heating not working in the bedroom", "category": "hvac", "priority": "high", "source": "resident",
     "unit": 0, "permission_to_enter": True, "entry_notes": "Cat inside; please keep the door closed",
     "description": "Radiator stays cold since Monday.", "assign": True},
    {"title": "Kitchen tap drips", "category": "plumbing", "priority": "normal", "source": "resident", "unit": 1,
     "permission_to_enter": True, "description": "Drips all night, worse when the hot water runs."},
    {"title": "Hallway light flickers on the second floor", "category": "electrical", "priority": "low",
     "source": "staff", "unit": None, "description": "Third fixture from the stairs."},
]
# Buildings, units and the technician reach maintenance through events a moment after they are created: a 422
# naming one of them is retried this many times, a second apart.
ATTEMPTS = 20


class _Api:
    def __init__(self, gateway_url: str, api_key: str) -> None:
        self.base = gateway_url.rstrip("/")
        self.key = api_key

    def call(self, method: str, path: str, body: Any = None, *, accept: tuple[int, ...] = ()) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method, headers={  # noqa: S310
            "Authorization": f"Bearer {self.key}", "content-type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=15) as resp:  # noqa: S310 (the local gateway)
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            if err.code in accept:
                return err.code, json.loads(err.read() or b"null")
            raise RuntimeError(f"{method} {path}: {err.code} {err.read()[:300]!r}") from err

    def data(self, method: str, path: str, body: Any = None) -> Any:
        return self.call(method, path, body)[1]["data"]


def _technician(api: _Api) -> dict[str, Any]:
    members = api.data("GET", "/v1/members?role=technician&limit=100")
    for member in members:
        if member["email"] == TECHNICIAN["email"]:
            return dict(member)
    return dict(api.data("POST", "/v1/members", TECHNICIAN))


def _until_projected(api: _Api, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    for _ in range(ATTEMPTS):
        status, doc = api.call(method, path, body, accept=(422,))
        if status != 422:
            return dict(doc["data"])
        time.sleep(1)
    raise RuntimeError(f"{method} {path}: still 422 after {ATTEMPTS} attempts: {doc}")


def _assign(api: _Api, request_id: str, technician_id: str) -> None:
    start = (datetime.now(UTC) + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    _until_projected(api, "POST", f"/v1/requests/{request_id}/assign", {
        "assignee_id": technician_id, "reason": "demo visit",
        "scheduled_window": {"start": start.isoformat(), "end": (start + timedelta(hours=2)).isoformat()}})


def seed(gateway_url: str, api_key: str) -> None:
    """A technician and three requests on the first demo building (one assigned), unless already there."""
    api = _Api(gateway_url, api_key)
    buildings = api.data("GET", "/v1/buildings?limit=100")
    if not buildings:
        return  # nothing to repair without property's demo buildings
    building = min(buildings, key=lambda b: (b["created_at"], b["id"]))  # the same one on every run
    units = sorted(api.data("GET", f"/v1/units?limit=100&building_id={building['id']}"),
                   key=lambda u: (u["created_at"], u["id"]))
    technician = _technician(api)
    for spec in REQUESTS:
        found = api.data("GET", "/v1/requests?limit=1&q=" + urllib.parse.quote(spec["title"]))
        if found:
            request = found[0]
        else:
            unit = units[spec["unit"]]["id"] if spec["unit"] is not None and spec["unit"] < len(units) else None
            body = {k: v for k, v in spec.items() if k not in ("unit", "assign")}
            request = _until_projected(api, "POST", "/v1/requests",
                                       {**body, "building_id": building["id"], "unit_id": unit})
        if spec.get("assign") and request["status"] == "new":
            _assign(api, request["id"], technician["id"])
