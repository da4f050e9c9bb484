"""Webhooks through the gateway: a partner's local receiver gets the org's property events, signed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp import web
from standardwebhooks.webhooks import Webhook

from conftest import bearer, new_org

pytestmark = pytest.mark.e2e


class _Receiver:
    def __init__(self) -> None:
        self.got: list[tuple[str, dict[str, str], bytes]] = []
        self.port = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.got.append((request.path, dict(request.headers), await request.read()))
        return web.Response(status=200, text="ok")

    async def wait(self, path: str, count: int, timeout: float = 20) -> list[tuple[str, dict[str, str], bytes]]:
        for _ in range(int(timeout / 0.1)):
            hits = [g for g in self.got if g[0] == path]
            if len(hits) >= count:
                return hits
            await asyncio.sleep(0.1)
        raise AssertionError(f"{path}: {len([g for g in self.got if g[0] == path])}/{count}")


@pytest.fixture
async def receiver() -> AsyncIterator[_Receiver]:
    r = _Receiver()
    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", r.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    r.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield r
    finally:
        await runner.cleanup()


async def test_a_partner_receives_its_orgs_building_events_signed(
        gw: httpx.AsyncClient, demo: dict[str, Any], receiver: _Receiver) -> None:
    mine, theirs = await new_org(gw, demo), await new_org(gw, demo)
    url = f"http://127.0.0.1:{receiver.port}"
    created = await gw.post("/v1/webhooks/endpoints", headers=bearer(mine["key"]),
                            json={"url": url + "/mine", "event_types": ["hearth.building.*"]})
    assert created.status_code == 201, created.text
    endpoint = created.json()["data"]
    other = await gw.post("/v1/webhooks/endpoints", headers=bearer(theirs["key"]), json={"url": url + "/theirs"})
    assert other.status_code == 201
    types = await gw.get("/v1/webhooks/event-types", headers=bearer(mine["key"]))
    assert "hearth.building.created.v1" in {t["type"] for t in types.json()["data"]}

    building = await gw.post("/v1/buildings", headers=bearer(mine["key"]), json={
        "name": "Hook Tower", "type": "residential", "timezone": "Europe/Berlin",
        "address": {"line1": "Hauptstr. 1", "city": "Berlin", "country": "DE"}})
    assert building.status_code == 201, building.text
    ((_, headers, body),) = await receiver.wait("/mine", 1)
    event = Webhook(endpoint["secret"]).verify(body, headers)
    assert event["type"] == "hearth.building.created.v1"
    assert event["subject"] == building.json()["data"]["id"] and event["orgid"] == mine["org_id"]

    log = await gw.get(f"/v1/webhooks/endpoints/{endpoint['id']}/deliveries", headers=bearer(mine["key"]))
    assert log.status_code == 200
    (delivery,) = log.json()["data"]
    assert delivery["id"] == {k.lower(): v for k, v in headers.items()}["webhook-id"]
    assert delivery["status"] in ("succeeded", "pending")  # the outcome is written just after the answer
    peek = await gw.get(f"/v1/webhooks/endpoints/{endpoint['id']}", headers=bearer(theirs["key"]))
    assert peek.status_code == 404
    assert all(json.loads(b)["orgid"] == theirs["org_id"] for p, _, b in receiver.got if p == "/theirs")
    bad = await gw.post("/v1/webhooks/endpoints", headers=bearer(mine["key"]), json={"url": "http://10.0.0.1/x"})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
