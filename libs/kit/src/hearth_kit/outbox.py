"""Transactional outbox: `append` in the use case's transaction; `OutboxRelay` publishes to Kafka.

The relay wakes on LISTEN/NOTIFY for latency and also polls, so a lost notification or a relay restart
never strands a row. It claims rows with FOR UPDATE SKIP LOCKED, under a per-schema advisory lock so
one replica publishes at a time and per-key order holds. Rows are deleted only after Kafka acked them
(acks=all), a chunk at a time; while Kafka is down they wait and go out, in order, when it returns.

Guarantee: at-least-once on the wire (a crash after an ack and before the chunk's commit re-sends that
chunk, at most ROWS_PER_COMMIT events), exactly-once effects through the consumers' inbox (kit
`idempotent_consumer` records each event id with the effect, in one transaction).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import datetime

import asyncpg
from aiokafka import AIOKafkaProducer
from hearth_contracts.envelope import KAFKA_HEADERS, EventData, to_cloudevent_bytes
from prometheus_client import Counter, Gauge

from hearth_kit.db import Database
from hearth_kit.ids import new_id
from hearth_kit.logging import get_logger
from hearth_kit.messaging import new_producer

log = get_logger(__name__)

PUBLISHED = Counter("hearth_outbox_published_total", "Events the relay published", ["schema"])
RELAY_ERRORS = Counter("hearth_outbox_relay_errors_total", "Relay batches that failed", ["schema"])
# Rows deleted per commit: the most events a crash between Kafka's ack and the commit can send twice.
# 100 keeps that window to one short round trip and the relay well above 5,000 events/s.
ROWS_PER_COMMIT = 100
BACKLOG = Gauge("hearth_outbox_backlog", "Rows seen waiting at the last relay pass", ["schema"])


async def append(
    conn: asyncpg.Connection,
    *,
    source: str,
    data: EventData,
    subject: str,
    org_id: str,
    traceparent: str | None = None,
    time: datetime | None = None,
) -> str:
    """Write one event to the outbox inside the caller's transaction; returns its event id."""
    sequence = await conn.fetchval(
        "INSERT INTO outbox_sequence (aggregate_id, last_value) VALUES ($1, 1)"
        " ON CONFLICT (aggregate_id) DO UPDATE SET last_value = outbox_sequence.last_value + 1"
        " RETURNING last_value",
        subject,
    )
    event_id = new_id("evt")
    payload = to_cloudevent_bytes(
        event_id=event_id, source=source, data=data, subject=subject, org_id=org_id,
        sequence=sequence, traceparent=traceparent, time=time,
    )
    await conn.execute(
        "INSERT INTO outbox (event_id, topic, key, payload) VALUES ($1, $2, $3, $4)",
        event_id, data.topic, subject, payload,
    )
    return event_id


async def append_many(
    conn: asyncpg.Connection,
    *,
    source: str,
    events: Sequence[tuple[EventData, str]],
    org_id: str,
    traceparent: str | None = None,
) -> list[str]:
    """Write many (data, subject) events in order in two statements (bulk operations write hundreds).

    Same rows and per-aggregate sequencing as `append`, one round trip per table instead of per event.
    """
    if not events:
        return []
    subjects = sorted({subject for _, subject in events})
    # Reserve, per aggregate, as many sequence numbers as it has events here (sorted: a stable lock order).
    wanted = dict.fromkeys(subjects, 0)
    for _, subject in events:
        wanted[subject] += 1
    rows = await conn.fetch(
        "INSERT INTO outbox_sequence (aggregate_id, last_value) SELECT a, n FROM unnest($1::text[], $2::bigint[])"
        " AS t(a, n) ORDER BY a"
        " ON CONFLICT (aggregate_id) DO UPDATE SET last_value = outbox_sequence.last_value + excluded.last_value"
        " RETURNING aggregate_id, last_value",
        subjects, [wanted[s] for s in subjects],
    )
    next_seq = {r["aggregate_id"]: int(r["last_value"]) - wanted[r["aggregate_id"]] + 1 for r in rows}
    ids, topics, keys, payloads = [], [], [], []
    for data, subject in events:
        seq = next_seq[subject]
        next_seq[subject] = seq + 1
        event_id = new_id("evt")
        ids.append(event_id)
        topics.append(data.topic)
        keys.append(subject)
        payloads.append(to_cloudevent_bytes(event_id=event_id, source=source, data=data, subject=subject,
                                            org_id=org_id, sequence=seq, traceparent=traceparent))
    await conn.execute(
        "INSERT INTO outbox (event_id, topic, key, payload)"
        " SELECT e, tp, k, p FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[])"
        " WITH ORDINALITY AS t(e, tp, k, p, o)"
        " ORDER BY o",
        ids, topics, keys, payloads,
    )
    return ids


class OutboxRelay:
    """Publishes committed outbox rows of one schema to Kafka, in commit order."""

    def __init__(
        self,
        db: Database,
        *,
        bootstrap: str,
        poll_seconds: float = 0.5,
        batch_size: int = 1000,
        producer: AIOKafkaProducer | None = None,
    ) -> None:
        self._db = db
        self._bootstrap = bootstrap
        self._poll = poll_seconds
        self._batch = batch_size
        self._producer = producer
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listen_conn: asyncpg.Connection | None = None
        self.kafka_ok = False

    async def start(self) -> None:
        """Start relaying in the background (returns at once, even while Kafka is down)."""
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self._db.schema}")

    async def stop(self) -> None:
        """Stop relaying; rows not yet sent stay for the next start."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._close_listener()
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await self._producer.stop()
            self._producer = None

    async def _run(self) -> None:
        backoff = 0.2
        while True:
            try:
                await self._ensure_ready()
                # Cleared before the pass, not after: a commit notified while the pass runs must wake the
                # next one at once, not wait out the poll interval (seen as ~200 ms on chained commands).
                self._wake.clear()
                sent = await self.relay_once()
                backoff = 0.2
                if sent < self._batch:  # drained: sleep until notified or the poll interval passes
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self._poll)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.kafka_ok = False
                RELAY_ERRORS.labels(self._db.schema).inc()
                log.warning("outbox relay pass failed; will retry", schema=self._db.schema, error=repr(exc))
                await self._reset_producer()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _ensure_ready(self) -> None:
        if self._listen_conn is None or self._listen_conn.is_closed():
            conn = await asyncpg.connect(self._db.dsn)
            await conn.add_listener(f"{self._db.schema}_outbox", lambda *_: self._wake.set())
            self._listen_conn = conn
        if self._producer is None:
            producer = new_producer(self._bootstrap, client_id=f"hearth-{self._db.schema}-relay")
            try:
                await producer.start()
            except Exception:
                with contextlib.suppress(Exception):
                    await producer.stop()
                raise
            self._producer = producer
            self.kafka_ok = True

    async def _reset_producer(self) -> None:
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await self._producer.stop()
            self._producer = None

    async def _close_listener(self) -> None:
        if self._listen_conn is not None:
            with contextlib.suppress(Exception):
                await self._listen_conn.close()
            self._listen_conn = None

    async def relay_once(self) -> int:
        """Publish up to one batch of waiting rows; returns how many went out.

        The batch goes out in chunks of ROWS_PER_COMMIT, each deleted in its own transaction as soon as
        Kafka acked it. A crash between an ack and that commit (kill -9 mid-relay) re-sends at most
        that one chunk on restart: at-least-once on the wire, with the window for a duplicate one
        chunk's ack-to-commit round trip instead of a whole batch. Consumers dedupe by event id.
        """
        sent = 0
        while sent < self._batch:
            want = min(ROWS_PER_COMMIT, self._batch - sent)
            got = await self._relay_chunk(want)
            sent += got
            if got < want:
                break
        return sent

    async def _relay_chunk(self, limit: int) -> int:
        producer = self._producer
        assert producer is not None
        async with self._db.pool.acquire() as conn, conn.transaction():
            # One publisher per schema at a time keeps per-key order across replicas.
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtext($1))", f"outbox:{self._db.schema}"):
                return 0
            rows = await conn.fetch(
                "SELECT id, topic, key, payload FROM outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED", limit,
            )
            BACKLOG.labels(self._db.schema).set(len(rows))
            if not rows:
                return 0
            # Queue the whole chunk, then wait for every ack: the producer pipelines them, and
            # idempotence keeps each partition's order even when it retries.
            futures = [
                await producer.send(r["topic"], value=bytes(r["payload"]), key=r["key"].encode(),
                                    headers=list(KAFKA_HEADERS))
                for r in rows
            ]
            await asyncio.gather(*futures)
            await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", [r["id"] for r in rows])
        self.kafka_ok = True
        PUBLISHED.labels(self._db.schema).inc(len(rows))
        return len(rows)
