"""The kit against real Postgres and Kafka: idempotent consumers, concurrent migrations, role isolation."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from hearth_contracts.envelope import to_cloudevent_bytes
from hearth_contracts.property import BuildingDeleted
from hearth_contracts.topics import DEAD_LETTER_SUFFIX
from hearth_kit.db import Database, provision_service_database, role_dsn
from hearth_kit.ids import new_id
from hearth_kit.messaging import (
    CONSUMER_ACK_POLICY,
    DeadLetters,
    idempotent_consumer,
    new_broker,
    wait_for,
)
from hearth_kit.migrate import Migration, MigrationError, kit_migrations, migrate
from hearth_kit.testing import Infra
from hearth_kit.testing.plugin import unique_schema
from hearth_kit.testing.schemas import migrated_schema
from prometheus_client import REGISTRY

pytestmark = pytest.mark.integration


@pytest.fixture
async def schema_db(infra: Infra) -> AsyncIterator[Database]:
    schema, dsn = await migrated_schema(infra, base="kit", migrations=[
        *kit_migrations(),
        Migration("service/0001_effects.sql", "CREATE TABLE effects (event_id text, org_id text)"),
    ])
    db = await Database.connect(dsn, schema=schema)
    yield db
    await db.close()


async def test_the_same_event_delivered_twice_has_one_effect(infra: Infra, schema_db: Database) -> None:
    topic = f"kit-inbox-{new_id('t')[-6:]}"
    handled: list[str] = []

    async def handle(conn: asyncpg.Connection, env: object) -> None:
        event_id = env.id  # type: ignore[attr-defined]
        await conn.execute("INSERT INTO effects VALUES ($1, $2)", event_id, env.orgid)  # type: ignore[attr-defined]
        handled.append(event_id)

    broker = new_broker(infra.kafka_bootstrap, client_id="kit-inbox-test")
    broker.subscriber(topic, group_id=f"g-{topic}", ack_policy=CONSUMER_ACK_POLICY, auto_offset_reset="earliest")(
        idempotent_consumer(db=schema_db, consumer="effects", handle=handle)
    )
    org = new_id("org")
    event = to_cloudevent_bytes(event_id=new_id("evt"), source="hearth/test", subject="bld_1", org_id=org,
                                sequence=1, data=BuildingDeleted(building_id="bld_1", org_id=org))
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, event, key=b"bld_1")
        await producer.send_and_wait(topic, b"garbage that is no CloudEvent", key=b"bld_1")
        await producer.send_and_wait(topic, event, key=b"bld_1")  # redelivery of the same event
        marker = to_cloudevent_bytes(event_id=new_id("evt"), source="hearth/test", subject="bld_2", org_id=org,
                                     sequence=1, data=BuildingDeleted(building_id="bld_2", org_id=org))
        await producer.send_and_wait(topic, marker, key=b"bld_2")
    finally:
        await producer.stop()
    await broker.start()
    try:
        assert await wait_for(lambda: _async_true(len(handled) >= 2), timeout=30)
    finally:
        await broker.stop()
    async with schema_db.transaction(org_id=org) as conn:
        assert await conn.fetchval("SELECT count(*) FROM effects WHERE org_id = $1", org) == 2
        assert await conn.fetchval("SELECT count(*) FROM inbox") == 2


async def _async_true(value: bool) -> bool:
    return value


async def test_two_replicas_migrating_at_once_apply_each_file_once(infra: Infra) -> None:
    schema = unique_schema("kitmig")
    password = secrets.token_hex(8)
    role = f"hearth_{schema}"
    await asyncio.gather(*[
        provision_service_database(infra.database_url, schema=schema, role=role, password=password) for _ in range(2)
    ])
    dsn = role_dsn(infra.database_url, role=role, password=password)
    files = [*kit_migrations(), Migration("service/0001_t.sql", "CREATE TABLE t (id int PRIMARY KEY)")]
    first, second = await asyncio.gather(migrate(dsn, schema=schema, migrations=files),
                                         migrate(dsn, schema=schema, migrations=files))
    assert sorted(first + second) == sorted(m.name for m in files)
    assert await migrate(dsn, schema=schema, migrations=files) == []
    edited = [*files[:-1], Migration("service/0001_t.sql", "CREATE TABLE t (id bigint PRIMARY KEY)")]
    with pytest.raises(MigrationError, match="was edited"):
        await migrate(dsn, schema=schema, migrations=edited)
    broken = [*files, Migration("service/0002_bad.sql", "CREATE TABLE nope (")]
    with pytest.raises(MigrationError, match="0002_bad"):
        await migrate(dsn, schema=schema, migrations=broken)
    conn = await asyncpg.connect(dsn)
    try:
        applied = await conn.fetchval(f"SELECT count(*) FROM {schema}.schema_migrations")
        assert applied == len(files)
    finally:
        await conn.close()


async def test_a_pooled_connection_carries_nothing_from_one_unit_of_work_to_the_next(infra: Infra) -> None:
    """The pool skips asyncpg's reset query; transaction-scoped state must still end with each unit."""
    schema = unique_schema("kitpool")
    password = secrets.token_hex(8)
    await provision_service_database(infra.database_url, schema=schema, role=f"hearth_{schema}", password=password)
    db = await Database.connect(role_dsn(infra.database_url, role=f"hearth_{schema}", password=password),
                                schema=schema, min_size=1, max_size=1)  # one connection: every unit reuses it
    try:
        async with db.transaction(org_id="org_a") as conn:
            assert await conn.fetchval("SELECT current_setting('hearth.org_id', true)") == "org_a"
            await conn.execute("SELECT pg_advisory_xact_lock(42)")
        with pytest.raises(RuntimeError):
            async with db.transaction(org_id="org_b") as conn:
                raise RuntimeError("the unit of work fails half-way")
        async with db.pool.acquire() as pooled:
            assert not pooled.is_in_transaction()
            assert await pooled.fetchval("SELECT current_setting('hearth.org_id', true)") in (None, "")
            assert await pooled.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                                       " AND pid = pg_backend_pid()") == 0
        async with db.transaction(org_id=None) as conn:
            assert await conn.fetchval("SELECT current_setting('hearth.org_id', true)") == ""
        # plain ids ride along with BEGIN; anything else is bound as a parameter, never spliced into SQL
        odd = "org_a'; SELECT pg_sleep(1); --"
        async with db.transaction(org_id=odd) as conn:
            assert await conn.fetchval("SELECT current_setting('hearth.org_id', true)") == odd
        # a nested asyncpg transaction inside a unit of work fails loudly instead of committing early
        with pytest.raises(asyncpg.InterfaceError):
            async with db.transaction(org_id="org_a") as conn, conn.transaction():
                pass
        async with db.pool.acquire() as pooled:
            assert not pooled.is_in_transaction()
    finally:
        await db.close()


async def test_a_record_that_keeps_failing_is_parked_and_its_partition_moves_on(
        infra: Infra, schema_db: Database) -> None:
    topic = f"kit-dlt-{new_id('t')[-6:]}"
    calls: dict[str, int] = {}
    handled: list[str] = []

    async def handle(conn: asyncpg.Connection, env: object) -> None:
        subject = env.subject  # type: ignore[attr-defined]
        calls[subject] = calls.get(subject, 0) + 1
        if subject == "poison" or (subject == "flaky" and calls[subject] == 1):
            raise RuntimeError(f"cannot handle {subject}")
        handled.append(subject)

    dead = DeadLetters(infra.kafka_bootstrap, client_id="kit-dlt-test", max_attempts=3, first_pause=0.05)
    broker = new_broker(infra.kafka_bootstrap, client_id="kit-dlt-test")
    broker.subscriber(topic, group_id=f"g-{topic}", ack_policy=CONSUMER_ACK_POLICY, auto_offset_reset="earliest")(
        idempotent_consumer(db=schema_db, consumer="effects", handle=handle, dead_letters=dead))
    org = new_id("org")

    def event(subject: str) -> bytes:
        return to_cloudevent_bytes(event_id=new_id("evt"), source="hearth/test", subject=subject, org_id=org,
                                   sequence=1, data=BuildingDeleted(building_id="bld_1", org_id=org))

    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
    await producer.start()
    try:  # one key, so one partition, in this order: the later records wait behind the failing ones
        for value in (event("poison"), b"not a CloudEvent", event("flaky"), event("good")):
            await producer.send_and_wait(topic, value, key=b"bld_1", headers=[("origin", b"test")])
    finally:
        await producer.stop()
    await broker.start()
    try:
        assert await wait_for(lambda: _async_true("good" in handled), timeout=30)
    finally:
        await broker.stop()
        await dead.stop()
    assert handled == ["flaky", "good"] and calls == {"poison": 3, "flaky": 2, "good": 1}

    reader = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap, auto_offset_reset="earliest",
                              enable_auto_commit=False)
    await reader.start()
    try:
        reader.subscribe([topic + DEAD_LETTER_SUFFIX])
        parked: list[Any] = []
        async with asyncio.timeout(20):
            while len(parked) < 2:
                for records in (await reader.getmany(timeout_ms=500)).values():
                    parked += records
    finally:
        await reader.stop()
    first, second = parked
    h1, h2 = dict(first.headers), dict(second.headers)
    assert first.key == b"bld_1" and first.value == event_value(first.value, "poison")
    assert h1["origin"] == b"test" and h1["hearth-dlt-attempts"] == b"3" and h1["hearth-dlt-consumer"] == b"effects"
    assert b"cannot handle poison" in h1["hearth-dlt-error"] and h1["hearth-dlt-topic"] == topic.encode()
    assert second.value == b"not a CloudEvent" and b"not a CloudEvent" in h2["hearth-dlt-error"]
    # the metrics say so too: two records parked, and the consumer caught up with its partition
    assert REGISTRY.get_sample_value("hearth_consumer_dead_lettered_total",
                                     {"consumer": "effects", "topic": topic}) == 2
    lags = [s for m in REGISTRY.collect() if m.name == "hearth_consumer_lag" for s in m.samples
            if s.labels["topic"] == topic]
    assert lags and lags[-1].value == 0


def event_value(value: bytes, subject: str) -> bytes:
    """The parked bytes are the original record's, unchanged (here: the CloudEvent about `subject`)."""
    assert f'"subject":"{subject}"'.encode() in value.replace(b" ", b""), value
    return value
