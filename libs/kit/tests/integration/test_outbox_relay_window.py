"""The relay's window for duplicates: a crash mid-batch re-sends at most one chunk, never a whole batch."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from aiokafka import AIOKafkaProducer
from hearth_contracts.property import BuildingDeleted
from hearth_contracts.topics import PROPERTY_EVENTS
from hearth_kit import outbox
from hearth_kit.db import Database, provision_service_database, role_dsn
from hearth_kit.ids import new_id
from hearth_kit.messaging import ensure_topics, new_producer
from hearth_kit.migrate import kit_migrations, migrate
from hearth_kit.testing import EventReader, Infra
from hearth_kit.testing.plugin import unique_schema

pytestmark = pytest.mark.integration

BACKLOG = 300
CRASH_AT = 150  # the 150th send of the batch fails: the process "dies" with 149 records handed to Kafka


class Crash(Exception):
    pass


class CrashingProducer:
    """A real producer that fails on its n-th send, as if the relay's process died at that point."""

    def __init__(self, real: AIOKafkaProducer, crash_at: int) -> None:
        self.real = real
        self.crash_at = crash_at
        self.sends = 0

    async def send(self, *args: Any, **kwargs: Any) -> Any:
        self.sends += 1
        if self.sends == self.crash_at:
            raise Crash
        return await self.real.send(*args, **kwargs)


def relay_with(db: Database, producer: AIOKafkaProducer) -> outbox.OutboxRelay:
    return outbox.OutboxRelay(db, bootstrap="unused", producer=producer)


@pytest.fixture
async def db(infra: Infra) -> AsyncIterator[Database]:
    schema = unique_schema("relay")
    password = secrets.token_hex(8)
    await provision_service_database(infra.database_url, schema=schema, role=f"hearth_{schema}", password=password)
    dsn = role_dsn(infra.database_url, role=f"hearth_{schema}", password=password)
    await migrate(dsn, schema=schema, migrations=kit_migrations())
    database = await Database.connect(dsn, schema=schema)
    yield database
    await database.close()


async def test_a_crash_mid_batch_resends_at_most_one_chunk(infra: Infra, db: Database) -> None:
    await ensure_topics(infra.kafka_bootstrap, [PROPERTY_EVENTS])
    org = new_id("org")
    async with db.transaction(org_id=org) as conn:
        for i in range(BACKLOG):
            subject = f"bld_{i % 7}"
            await outbox.append(conn, source="hearth/test", subject=subject, org_id=org,
                                data=BuildingDeleted(building_id=subject, org_id=org))
    async with EventReader(infra.kafka_bootstrap, PROPERTY_EVENTS.name) as reader:
        real = new_producer(infra.kafka_bootstrap, client_id="relay-crash")
        await real.start()
        try:
            crashing = relay_with(db, cast(AIOKafkaProducer, CrashingProducer(real, CRASH_AT)))
            with pytest.raises(Crash):
                await crashing.relay_once()
        finally:
            await real.stop()  # what was handed to Kafka before the crash still goes out
        async with db.transaction(org_id=org) as conn:
            left = await conn.fetchval("SELECT count(*) FROM outbox")
        assert left == BACKLOG - outbox.ROWS_PER_COMMIT  # the acked first chunk was already deleted

        restarted = new_producer(infra.kafka_bootstrap, client_id="relay-restarted")
        await restarted.start()
        try:
            relay = relay_with(db, restarted)
            while await relay.relay_once():
                pass
        finally:
            await restarted.stop()
        published = (CRASH_AT - 1) + left
        seen = await reader.wait_for(lambda _k, e: e.orgid == org, count=published, timeout=60)
    ids = Counter(env.id for _, env in seen)
    duplicates = sum(n - 1 for n in ids.values())
    assert len(ids) == BACKLOG  # nothing lost
    assert 0 < duplicates <= outbox.ROWS_PER_COMMIT  # before: every record of the batch sent before the crash
