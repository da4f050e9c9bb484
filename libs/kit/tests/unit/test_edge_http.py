"""The kit's edge middleware: HEAD wherever GET, 405 with every allowed method, 415, 413/400 as full problems,
one Host header, the route template on metrics, the answer and the request log line."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from hearth_kit.http import REQUESTS, create_http_app, new_traceparent, valid_traceparent
from hearth_kit.logging import configure_logging
from pydantic import BaseModel


class _Thing(BaseModel):
    name: str


def _app() -> Any:
    app = create_http_app(service="edge-unit", max_body_bytes=100)

    @app.get("/things/{thing_id}")
    async def get_thing(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    @app.put("/things/{thing_id}")
    async def put_thing(thing_id: str, body: _Thing) -> dict[str, str]:
        return {"id": thing_id, "name": body.name}

    included = APIRouter()  # (routes of included routers count for Allow too)

    @included.delete("/things/{thing_id}", status_code=204)
    async def delete_thing(thing_id: str) -> None:
        return None

    app.include_router(included)

    @app.post("/things")
    async def create_thing(body: _Thing) -> dict[str, str]:
        return {"name": body.name}

    return app


@pytest.fixture
async def client() -> Any:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


async def test_head_is_answered_wherever_get_is(client: httpx.AsyncClient) -> None:
    get = await client.get("/things/a1")
    head = await client.head("/things/a1")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"]


async def test_405_lists_every_method_of_the_path_across_routes(client: httpx.AsyncClient) -> None:
    r = await client.patch("/things/a1", json={"name": "x"})
    assert r.status_code == 405 and r.headers["content-type"] == "application/problem+json"
    assert r.headers["allow"] == "DELETE, GET, HEAD, PUT"
    assert r.json()["instance"] == "/things/a1" and r.json()["request_id"]


@pytest.mark.parametrize("headers", [{"content-type": "text/plain"},
                                     {"content-type": "application/x-www-form-urlencoded"}, {}])
async def test_a_body_that_is_not_json_is_415(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    r = await client.post("/things", content=b'{"name":"x"}', headers=headers)
    assert r.status_code == 415 and r.json()["type"].endswith("/unsupported-media-type")
    ok = await client.post("/things", content=b'{"name":"x"}',
                           headers={"content-type": "application/merge-patch+json; charset=utf-8"})
    assert ok.status_code == 200


async def test_413_is_a_problem_with_instance_and_request_id(client: httpx.AsyncClient) -> None:
    r = await client.post("/things", json={"name": "x" * 500}, headers={"x-request-id": "req-413"})
    body = r.json()
    assert r.status_code == 413 and body["instance"] == "/things" and body["request_id"] == "req-413"
    assert r.headers["x-request-id"] == "req-413"


async def test_two_host_headers_are_refused(client: httpx.AsyncClient) -> None:
    r = await client.get("/things/a1", headers=[("host", "a.example"), ("host", "b.example")])
    assert r.status_code == 400 and r.json()["type"].endswith("/duplicate-host")


async def test_route_template_labels_metrics_answer_and_log(client: httpx.AsyncClient,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(service="edge-unit", level="INFO")
    before = REQUESTS.labels("edge-unit", "GET", "/things/{thing_id}", "200")._value.get()
    r = await client.get("/things/zz9", headers={"x-request-id": "req-log-1"})
    assert r.headers["x-hearth-route"] == "/things/{thing_id}"
    assert REQUESTS.labels("edge-unit", "GET", "/things/{thing_id}", "200")._value.get() == before + 1
    logging.getLogger().handlers[0].flush()
    lines = [line for line in capsys.readouterr().out.splitlines() if "req-log-1" in line]
    assert lines and '"route": "/things/{thing_id}"' in lines[0] and '"status": 200' in lines[0]
    assert '"method": "GET"' in lines[0] and '"duration_ms"' in lines[0]


def test_one_traceparent_parser() -> None:
    fresh = new_traceparent()
    assert valid_traceparent(fresh)
    assert not valid_traceparent("ff" + fresh[2:])
    assert not valid_traceparent("00-" + "0" * 32 + "-" + "1" * 16 + "-01")
    assert not valid_traceparent("00-" + "1" * 32 + "-" + "0" * 16 + "-01")
    assert not valid_traceparent("garbage") and not valid_traceparent(None)
