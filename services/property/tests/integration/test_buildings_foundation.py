"""The first slice end to end: buildings in Postgres, announced on Kafka through the outbox."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
import pytest
from hearth_contracts.property import BuildingCreated, BuildingUpdated
from hearth_kit import outbox
from hearth_kit.auth import INTERNAL_TOKEN_HEADER, InternalTokenSigner, Principal, SigningKey
from hearth_kit.ids import new_id
from hearth_kit.testing import EventReader, Infra, ServiceHarness, service_harness
from hearth_kit.testing.infra import _local, _value, free_port
from hearth_kit.testing.plugin import unique_schema
from hearth_property.main import build_app

pytestmark = pytest.mark.integration


def building(name: str = "Aurora Heights", **over: Any) -> dict[str, Any]:
    body = {
        "name": name, "type": "residential", "timezone": "Europe/Berlin",
        "address": {"line1": "15 Innovation Drive", "city": "Berlin", "country": "de"},
    }
    body.update(over)
    return body


async def count_rows(h: ServiceHarness, org_id: str) -> tuple[int, int]:
    async with h.raw(org_id=org_id) as conn:
        buildings = await conn.fetchval("SELECT count(*) FROM buildings")
        # the outbox is not org-scoped and other tests' events may still wait there: count this org's only
        pending = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE position(convert_to($1, 'UTF8') in payload) > 0", org_id)
    return int(buildings), int(pending)


async def test_post_commits_and_a_real_consumer_reads_the_cloudevent(prop: ServiceHarness, infra: Infra,
                                                                      org_id: str) -> None:
    async with EventReader(infra.kafka_bootstrap, "property.events") as reader:
        resp = await prop.client.post("/v1/buildings", json=building(), headers=prop.headers(org_id=org_id))
        assert resp.status_code == 201, resp.text
        created = resp.json()["data"]
        assert created["id"].startswith("bld_")
        assert created["address"]["country"] == "DE"
        assert (created["units"], created["occupancy"]) == (0, 0.0)
        [(key, env)] = await reader.wait_for(lambda k, e: e.subject == created["id"])
    assert key == created["id"].encode()
    assert env.type == "hearth.building.created.v1"
    assert env.source == "hearth/property"
    assert env.orgid == org_id
    assert env.sequence == 1
    # CloudEvents Kafka binding, structured mode; the Sequence extension compares strings
    index = next(i for i, (_, e) in enumerate(reader.seen) if e.subject == created["id"])
    assert reader.headers[index]["content-type"] == b"application/cloudevents+json"
    assert json.loads(reader.values[index])["sequence"] == "00000000000000000001"
    data = env.data_as(BuildingCreated)
    assert (data.building_id, data.name, data.timezone) == (created["id"], "Aurora Heights", "Europe/Berlin")

    got = await prop.client.get(f"/v1/buildings/{created['id']}", headers=prop.headers(org_id=org_id))
    assert got.json()["data"] == created
    assert resp.headers["location"] == f"/v1/buildings/{created['id']}"
    assert got.headers["etag"] == resp.headers["etag"]


async def test_row_and_outbox_row_commit_together_or_not_at_all(prop: ServiceHarness, org_id: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    async def failing_append(*_a: Any, **_k: Any) -> str:
        raise RuntimeError("outbox write failed")

    monkeypatch.setattr(outbox, "append", failing_append)
    resp = await prop.client.post("/v1/buildings", json=building(), headers=prop.headers(org_id=org_id))
    assert resp.status_code == 500
    assert resp.headers["content-type"] == "application/problem+json"
    assert await count_rows(prop, org_id) == (0, 0)


async def test_list_pages_and_filters_by_status(prop: ServiceHarness, org_id: str) -> None:
    h = prop.headers(org_id=org_id)
    for i in range(3):
        assert (await prop.client.post("/v1/buildings", json=building(f"B{i}"), headers=h)).status_code == 201
    await prop.client.post("/v1/buildings", json=building("Closed", status="inactive"), headers=h)
    page = (await prop.client.get("/v1/buildings?page=1&limit=2", headers=h)).json()
    assert page["meta"] == {"total": 4, "page": 1, "limit": 2}
    assert len(page["data"]) == 2
    page2 = (await prop.client.get("/v1/buildings?page=2&limit=2", headers=h)).json()
    assert {b["id"] for b in page["data"]}.isdisjoint({b["id"] for b in page2["data"]})
    inactive = (await prop.client.get("/v1/buildings?status=inactive", headers=h)).json()
    assert [b["name"] for b in inactive["data"]] == ["Closed"]
    bad = await prop.client.get("/v1/buildings?status=demolished", headers=h)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["allowed"] == ["active", "inactive", "maintenance"]
    assert (await prop.client.get("/v1/buildings?limit=101", headers=h)).status_code == 422


async def test_another_org_gets_404_and_rls_hides_rows_from_raw_sql(prop: ServiceHarness) -> None:
    org_a, org_b = new_id("org"), new_id("org")
    resp = await prop.client.post("/v1/buildings", json=building(), headers=prop.headers(org_id=org_a))
    bid = resp.json()["data"]["id"]
    other = await prop.client.get(f"/v1/buildings/{bid}", headers=prop.headers(org_id=org_b))
    assert other.status_code == 404
    assert other.json()["type"].endswith("/not-found")
    listed = (await prop.client.get("/v1/buildings", headers=prop.headers(org_id=org_b))).json()
    assert listed["meta"]["total"] == 0
    async with prop.raw(org_id=org_b) as conn:
        assert await conn.fetchval("SELECT count(*) FROM buildings WHERE id = $1", bid) == 0
    async with prop.raw(org_id=None) as conn:
        assert await conn.fetchval("SELECT count(*) FROM buildings WHERE id = $1", bid) == 0
    async with prop.raw(org_id=org_a) as conn:
        assert await conn.fetchval("SELECT count(*) FROM buildings WHERE id = $1", bid) == 1


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b'{"name": "x", "type": ', 400, "body"),
        ({**building(), "name": None}, 422, "name"),
        ({k: v for k, v in building().items() if k != "type"}, 422, "type"),
        (building(type="castle"), 422, "type"),
        (building(timezone="Mars/Olympus"), 422, "timezone"),
        (building(address={"line1": "x", "city": "y", "country": "DEU"}), 422, "address.country"),
        (building(units=12), 422, "units"),
        ([1, 2, 3], 422, "body"),
    ],
)
async def test_bad_input_is_a_4xx_problem_naming_the_field_and_writes_nothing(
    prop: ServiceHarness, org_id: str, body: Any, status: int, field: str
) -> None:
    h = {**prop.headers(org_id=org_id), "content-type": "application/json"}
    if isinstance(body, bytes):
        resp = await prop.client.post("/v1/buildings", content=body, headers=h)
    else:
        resp = await prop.client.post("/v1/buildings", json=body, headers=h)
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    problem = resp.json()
    assert problem["status"] == status
    assert any(e["field"] == field for e in problem["errors"]), problem
    if "allowed" in str(problem) and field == "type":
        assert {"residential", "commercial", "mixed"} <= set(problem["errors"][0]["allowed"])
    assert await count_rows(prop, org_id) == (0, 0)


async def test_oversized_body_is_413_and_writes_nothing(prop: ServiceHarness, org_id: str) -> None:
    huge = building(name="x" * 2_000_000)
    resp = await prop.client.post("/v1/buildings", json=huge, headers=prop.headers(org_id=org_id))
    assert resp.status_code == 413
    assert resp.json()["type"].endswith("/body-too-large")
    assert await count_rows(prop, org_id) == (0, 0)


async def test_no_unauthenticated_path_in(prop: ServiceHarness, org_id: str) -> None:
    assert (await prop.client.get("/v1/buildings")).status_code == 401
    forged = InternalTokenSigner(SigningKey.generate("test-key-1")).mint(
        Principal(org_id=org_id, subject="key_x", role="admin"))
    resp = await prop.client.get("/v1/buildings", headers={INTERNAL_TOKEN_HEADER: forged})
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"].startswith("Bearer")
    partner = await prop.client.post("/v1/buildings", json=building(), headers=prop.headers(org_id=org_id,
                                                                                            role="partner"))
    assert partner.status_code == 403
    assert await count_rows(prop, org_id) == (0, 0)


async def test_idempotency_key_replays_and_refuses_a_different_body(prop: ServiceHarness, org_id: str) -> None:
    h = {**prop.headers(org_id=org_id), "Idempotency-Key": "create-aurora-1"}
    first = await prop.client.post("/v1/buildings", json=building(), headers=h)
    again = await prop.client.post("/v1/buildings", json=building(), headers=h)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    other = await prop.client.post("/v1/buildings", json=building("Other"), headers=h)
    assert other.status_code == 422
    assert (await count_rows(prop, org_id))[0] == 1


async def test_health_ready_and_metrics(prop: ServiceHarness) -> None:
    assert (await prop.client.get("/healthz")).json() == {"status": "ok"}
    ready = await prop.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    metrics = (await prop.client.get("/metrics")).text
    assert "hearth_http_requests_total" in metrics
    assert "hearth_outbox_published_total" in metrics


@pytest.mark.timeout(600)  # starts and restarts a whole broker: minutes on a busy machine
async def test_events_wait_while_kafka_is_down_and_arrive_in_order_after(
    infra: Infra, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A private Kafka (so the shared one keeps serving other tests) is stopped, written to, restarted."""
    env = {"HEARTH_RUN_DIR": str(tmp_path / "run"), "HEARTH_KAFKA_PORT": str(free_port()),
           "HEARTH_KAFKA_CONTROLLER_PORT": str(free_port())}
    bootstrap = _value(await asyncio.to_thread(_local, "kafka.sh", "start", env), "KAFKA_BOOTSTRAP")
    try:
        private = Infra(database_url=infra.database_url, kafka_bootstrap=bootstrap, how="local")
        async with service_harness(private, schema=unique_schema("property"), prefix="HEARTH_PROPERTY_",
                                   build_app=build_app, monkeypatch_env=monkeypatch.setenv) as h:
            org = new_id("org")
            await asyncio.to_thread(_local, "kafka.sh", "stop", env)
            ids = []
            for i in range(5):
                resp = await h.client.post("/v1/buildings", json=building(f"Down {i}"), headers=h.headers(org_id=org))
                assert resp.status_code == 201, resp.text
                ids.append(resp.json()["data"]["id"])
            # more facts about the first building, so one key carries several events in order
            async with h.raw(org_id=org) as conn:
                row = await conn.fetchrow("SELECT * FROM buildings WHERE id = $1", ids[0])
                assert row is not None
                for n in range(3):
                    snapshot = {**{k: row[k] for k in ("org_id", "name", "type", "address", "timezone", "status",
                                                       "created_at", "updated_at")},
                                "building_id": ids[0], "name": f"Renamed {n}"}
                    await outbox.append(conn, source="hearth/property", data=BuildingUpdated(**snapshot),
                                        subject=ids[0], org_id=org)
            await asyncio.sleep(1.5)
            async with h.raw(org_id=org) as conn:
                assert await conn.fetchval("SELECT count(*) FROM outbox") == 8  # all waiting
            await asyncio.to_thread(_local, "kafka.sh", "start", env)
            async with EventReader(bootstrap, "property.events") as reader:
                await reader._consumer.seek_to_beginning()
                got = await reader.wait_for(lambda k, e: e.orgid == org, count=8, timeout=60)
            assert {e.subject for _, e in got} == set(ids)
            first = [e for _, e in got if e.subject == ids[0]]
            assert [e.sequence for e in first] == [1, 2, 3, 4]
            assert [e.type for e in first] == ["hearth.building.created.v1"] + ["hearth.building.updated.v1"] * 3
            assert [e.data["name"] for e in first[1:]] == ["Renamed 0", "Renamed 1", "Renamed 2"]
            async with h.raw(org_id=org) as conn:
                assert await conn.fetchval("SELECT count(*) FROM outbox") == 0
    finally:
        await asyncio.to_thread(_local, "kafka.sh", "stop", env)


async def test_service_role_cannot_read_another_schema(prop: ServiceHarness, infra: Infra) -> None:
    admin = await asyncpg.connect(infra.database_url)
    try:
        await admin.execute("CREATE SCHEMA IF NOT EXISTS secret_other; "
                            "CREATE TABLE IF NOT EXISTS secret_other.t (x int)")
    finally:
        await admin.close()
    conn = await asyncpg.connect(prop.database_url)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch("SELECT * FROM secret_other.t")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE TABLE public.sneaky (x int)")
    finally:
        await conn.close()
