"""Partitions and retention: created ahead, old raw partitions dropped, per-org shorter retention, rollups kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hearth_kit.ids import new_id
from hearth_kit.testing import Infra, ServiceHarness
from hearth_telemetry.maintenance import run_maintenance
from prometheus_client import REGISTRY
from telemetry_helpers import ok, sensor


async def _insert(h: ServiceHarness, org_id: str, sensor_id: str, moments: list[datetime]) -> None:
    async with h.raw(org_id=org_id) as conn:
        for moment in moments:
            await conn.execute("SELECT ensure_readings_partition($1::date)", moment.date())
            await conn.execute("INSERT INTO readings (sensor_id, ts, value, org_id) VALUES ($1, $2, 1, $3)",
                               sensor_id, moment, org_id)
            await conn.execute(
                "INSERT INTO rollups_1m (sensor_id, bucket, org_id, n, total, min_value, max_value, last_ts,"
                " last_value) VALUES ($1, date_bin('1 minute', $2, timestamptz 'epoch'), $3, 1, 1, 1, 1, $2, 1)",
                sensor_id, moment, org_id)


async def _count(h: ServiceHarness, org_id: str, sensor_id: str, table: str) -> int:
    async with h.raw(org_id=org_id) as conn:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table} WHERE sensor_id = $1", sensor_id))


async def test_retention_drops_only_what_it_should(tele: ServiceHarness, infra: Infra, org_id: str) -> None:
    keeps_default = await sensor(tele, infra, org_id)
    short_org = new_id("org")
    keeps_less = await sensor(tele, infra, short_org)
    h = tele.headers(org_id=short_org)
    resp = await tele.client.put("/v1/readings/retention", json={"raw_retention_days": 5,
                                                                 "rollup_retention_days": 3}, headers=h)
    assert resp.status_code == 422
    await ok(await tele.client.put("/v1/readings/retention", json={"raw_retention_days": 5,
                                                                   "rollup_retention_days": 40}, headers=h))
    assert (await ok(await tele.client.get("/v1/readings/retention", headers=h)))["raw_retention_days"] == 5
    now = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    # a far-future "today" (this module's schema is its own): readings 2, 20, 45 and 800 days old
    today = (now + timedelta(days=3000)).date()
    moments = [now + timedelta(days=3000 - d) for d in (2, 20, 45, 800)]
    await _insert(tele, org_id, keeps_default["id"], moments)
    await _insert(tele, short_org, keeps_less["id"], moments)
    stats = await run_maintenance(tele.app.state.runtime, today=today)
    assert stats["created"] >= 3 and stats["dropped"] >= 2
    # default org: raw rows of the last 30 days stay (2 and 20 days old), rollups for 730 days (not 800)
    assert await _count(tele, org_id, keeps_default["id"], "readings") == 2
    assert await _count(tele, org_id, keeps_default["id"], "rollups_1m") == 3
    # the org keeping 5 days of raw rows and 40 of rollups
    assert await _count(tele, short_org, keeps_less["id"], "readings") == 1
    assert await _count(tele, short_org, keeps_less["id"], "rollups_1m") == 2
    async with tele.raw(org_id=org_id) as conn:
        names = [r["relname"] for r in await conn.fetch(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'readings'::regclass")]
    for ahead in range(4):
        assert f"readings_{(today + timedelta(days=ahead)).strftime('%Y%m%d')}" in names
    assert f"readings_{(today - timedelta(days=45)).strftime('%Y%m%d')}" not in names


async def test_an_org_keeping_longer_does_not_stretch_the_default(tele: ServiceHarness, infra: Infra,
                                                                  org_id: str) -> None:
    keeps_default = await sensor(tele, infra, org_id)
    long_org = new_id("org")
    keeps_more = await sensor(tele, infra, long_org)
    await ok(await tele.client.put("/v1/readings/retention", json={"raw_retention_days": 60,
                                                                   "rollup_retention_days": 730},
                                   headers=tele.headers(org_id=long_org)))
    now = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    today = (now + timedelta(days=6000)).date()  # far from the other test's days: partitions of its own
    moments = [now + timedelta(days=6000 - d) for d in (2, 45, 90)]
    await _insert(tele, org_id, keeps_default["id"], moments)
    await _insert(tele, long_org, keeps_more["id"], moments)
    await run_maintenance(tele.app.state.runtime, today=today)
    # the 45-day-old partition stays for the org keeping 60 days; the default org's row in it goes
    assert await _count(tele, long_org, keeps_more["id"], "readings") == 2
    assert await _count(tele, org_id, keeps_default["id"], "readings") == 1
    assert await _count(tele, org_id, keeps_default["id"], "rollups_1m") == 3


async def test_the_maintenance_pass_reports_a_roll_owed_for_long(tele: ServiceHarness) -> None:
    topic = new_id("test.readings")
    async with tele.raw() as conn:  # (no org column, no RLS)
        await conn.execute("INSERT INTO unrolled_batches (topic, kafka_partition, first_offset, last_offset,"
                           " created_at) VALUES ($1, 0, 0, 9, now() - interval '1 hour')", topic)
    try:
        await run_maintenance(tele.app.state.runtime)
        assert _owed_for() >= 3600
    finally:
        async with tele.raw() as conn:
            await conn.execute("DELETE FROM unrolled_batches WHERE topic = $1", topic)
    await run_maintenance(tele.app.state.runtime)
    assert _owed_for() < 60


def _owed_for() -> float:
    return REGISTRY.get_sample_value("hearth_telemetry_oldest_owed_roll_seconds") or 0.0
