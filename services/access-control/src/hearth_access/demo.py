"""Demo locks for `make up`: the simulator becomes the demo org's lock vendor, with a lock per unit door and
a main entrance per building, imported and mapped through the public API. Idempotent: ids are derived
from the buildings and units, and an existing vendor is re-imported instead of added again."""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

import httpx

VENDOR_NAME = "Demo lock vendor (simulator)"
ACCOUNT_ID = "hearth-demo"
# The simulator is a dev stand-in; this token only opens it.
PERMANENT_TOKEN = "hearth-demo-permanent-token-for-the-lock-vendor-simulator"
_NS = uuid.UUID("6f1c1c52-8a53-4c1e-9a59-3f0f5b1f3c11")
MAX_UNITS = 30
US_ZONES = {"America/New_York": "US/Eastern", "America/Chicago": "US/Central", "America/Denver": "US/Mountain",
            "America/Phoenix": "US/Arizona", "America/Los_Angeles": "US/Pacific", "America/Anchorage": "US/Alaska",
            "Pacific/Honolulu": "US/Hawaii", "America/Indiana/Indianapolis": "US/East-Indiana"}


def access_control_url() -> str:
    """Where the simulator pushes lock events (the service directly: the push is signed, not a gateway call)."""
    offset = int(os.environ.get("HEARTH_PORT_OFFSET", "0"))
    return os.environ.get("HEARTH_ACCESS_CONTROL_URL") or f"http://127.0.0.1:{8104 + offset}"


def simulator_url() -> str:
    offset = int(os.environ.get("HEARTH_PORT_OFFSET", "0"))
    return os.environ.get("HEARTH_SIMULATOR_LOCK_VENDOR_URL") or f"http://127.0.0.1:{8190 + offset}"


def _all(client: httpx.Client, path: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    page = 1
    while True:
        resp = client.get(path, params={"page": page, "limit": 100})
        resp.raise_for_status()
        doc = resp.json()
        out += doc["data"]
        if len(out) >= doc["meta"]["total"] or not doc["data"]:
            return out
        page += 1


def seed(gateway_url: str, api_key: str) -> None:
    """Register the simulator as the demo org's lock vendor and import its locks (safe to run again)."""
    sim = simulator_url()
    with httpx.Client(base_url=gateway_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30) as gw:
        buildings = _all(gw, "/v1/buildings")
        units = _all(gw, "/v1/units")[:MAX_UNITS]
        locks: list[dict[str, Any]] = []
        listings: list[dict[str, Any]] = []
        targets: dict[str, dict[str, Any]] = {}
        zones = {b["id"]: US_ZONES.get(b.get("timezone", ""), "US/Eastern") for b in buildings}
        for b in buildings:
            lock_id = str(uuid.uuid5(_NS, b["id"]))
            locks.append({"lock_id": lock_id, "name": f"{b['name']} main entrance"})
            listings.append({"listing_id": f"demo-{b['id']}", "name": f"{b['name']} common doors",
                             "code_length": 6, "timezone": zones[b["id"]], "linked_locks": [lock_id]})
            targets[f"demo-{b['id']}"] = {"building_id": b["id"], "unit_id": None}
        for u in units:
            lock_id = str(uuid.uuid5(_NS, u["id"]))
            label = u.get("unit_number") or u["name"]
            locks.append({"lock_id": lock_id, "name": f"{label} front door"})
            listings.append({"listing_id": f"demo-{u['id']}", "name": f"Unit {label}", "code_length": 6,
                             "timezone": zones.get(u["building_id"], "US/Eastern"), "linked_locks": [lock_id]})
            targets[f"demo-{u['id']}"] = {"building_id": u["building_id"], "unit_id": u["id"]}
        httpx.put(f"{sim}/_sim/accounts/{ACCOUNT_ID}", timeout=10, json={
            "permanent_token": PERMANENT_TOKEN, "locks": locks, "listings": listings}).raise_for_status()

        existing = [v for v in _all(gw, "/v1/lock-vendors") if v["name"] == VENDOR_NAME]
        if existing:
            vendor = existing[0]
            gw.post(f"/v1/lock-vendors/{vendor['id']}/import").raise_for_status()
        else:
            resp = gw.post("/v1/lock-vendors", json={"name": VENDOR_NAME, "base_url": sim,
                                                     "permanent_token": PERMANENT_TOKEN})
            resp.raise_for_status()
            vendor = resp.json()["data"]
        # lock events reach Hearth as they happen (polling stays the safety net)
        httpx.put(f"{sim}/_sim/accounts/{ACCOUNT_ID}", timeout=10, json={
            "push_url": f"{access_control_url()}/internal/v1/lock-vendors/{vendor['id']}/events"}).raise_for_status()
        resp = gw.get(f"/v1/lock-vendors/{vendor['id']}/listings")
        resp.raise_for_status()
        for listing in resp.json()["data"]:
            target = targets.get(listing["vendor_listing_id"])
            if target is None or (listing["building_id"], listing["unit_id"]) == (target["building_id"],
                                                                                   target["unit_id"]):
                continue
            for _ in range(10):  # the buildings and units may still be on their way from property.events
                answer = gw.put(f"/v1/lock-vendors/{vendor['id']}/listings/{listing['id']}", json=target)
                if answer.status_code != 422:
                    answer.raise_for_status()
                    break
                time.sleep(1)
