"""Housekeeping prunes inbox rows and stored Idempotency-Key answers past their retention, and only those."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from hearth_kit.db import Database
from hearth_kit.housekeeping import prune
from hearth_kit.ids import new_id
from hearth_kit.migrate import kit_migrations
from hearth_kit.testing import Infra
from hearth_kit.testing.schemas import migrated_schema

pytestmark = pytest.mark.integration


@pytest.fixture
async def db(infra: Infra) -> AsyncIterator[Database]:
    schema, dsn = await migrated_schema(infra, base="house", migrations=kit_migrations())
    database = await Database.connect(dsn, schema=schema)
    yield database
    await database.close()


async def test_prune_removes_only_rows_past_retention_in_every_org(db: Database) -> None:
    orgs = [new_id("org"), new_id("org")]
    async with db.system_transaction() as conn:
        for age_hours, tag in ((200, "old"), (1, "new")):
            for i in range(3):
                await conn.execute("INSERT INTO inbox (consumer, event_id, processed_at)"
                                   " VALUES ('c', $1, now() - make_interval(hours => $2))", f"{tag}{i}", age_hours)
            for org in orgs:
                await conn.execute(
                    "INSERT INTO idempotency_keys (org_id, key, request_hash, status_code, body, created_at)"
                    " VALUES ($1, $2, 'h', 201, '{}'::jsonb, now() - make_interval(hours => $3))",
                    org, tag, 30 if tag == "old" else 1)
    pruned = await prune(db, inbox_older_than=timedelta(hours=168), idempotency_older_than=timedelta(hours=24),
                         batch=2)  # small batches: the loop must go round
    assert pruned == {"inbox": 3, "idempotency_keys": 2}
    async with db.system_transaction() as conn:
        inbox = {r["event_id"] for r in await conn.fetch("SELECT event_id FROM inbox")}
        keys = {(r["org_id"], r["key"]) for r in await conn.fetch("SELECT org_id, key FROM idempotency_keys")}
    assert inbox == {"new0", "new1", "new2"}
    assert keys == {(orgs[0], "new"), (orgs[1], "new")}
    assert await prune(db, inbox_older_than=timedelta(hours=168),
                       idempotency_older_than=timedelta(hours=24)) == {"inbox": 0, "idempotency_keys": 0}
