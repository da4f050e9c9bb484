"""Demo data for `make up`: sensors on the demo org's buildings, registered through the gateway.

Idempotent: every sensor has an external id (`demo-<building>-<kind>`), and one that exists is skipped.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

DEMO_KINDS = ("temperature", "humidity", "co2", "energy", "water_leak")
MAX_BUILDINGS = 3


def _existing(client: httpx.Client) -> set[str]:
    seen: set[str] = set()
    page = 1
    while True:
        doc = client.get("/v1/sensors", params={"page": page, "limit": 100}).raise_for_status().json()
        seen |= {s["external_id"] for s in doc["data"] if s["external_id"]}
        if page * 100 >= doc["meta"]["total"]:
            return seen
        page += 1


def _register(client: httpx.Client, body: dict[str, Any]) -> None:
    for _ in range(10):  # the building may still be on its way to telemetry's projection
        resp = client.post("/v1/sensors", json=body)
        if resp.status_code in (201, 409):
            return
        if resp.status_code != 422:
            resp.raise_for_status()
        time.sleep(1)
    raise RuntimeError(f"could not register demo sensor {body['external_id']}: {resp.text}")


def seed(gateway_url: str, api_key: str) -> None:
    """Register the demo sensors (a few kinds per building, on the first buildings)."""
    with httpx.Client(base_url=gateway_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30) as client:
        buildings = client.get("/v1/buildings", params={"limit": MAX_BUILDINGS}).raise_for_status().json()["data"]
        have = _existing(client)
        for building in buildings[:MAX_BUILDINGS]:
            for kind in DEMO_KINDS:
                external_id = f"demo-{building['id']}-{kind}"
                if external_id not in have:
                    _register(client, {"building_id": building["id"], "kind": kind, "external_id": external_id,
                                       "name": f"{building['name']} {kind.replace('_', ' ')}"})
