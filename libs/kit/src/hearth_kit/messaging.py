"""Kafka wiring: the idempotent producer, the FastStream broker, topic creation, idempotent consumers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from hearth_contracts.envelope import Envelope, parse_cloudevent
from hearth_contracts.topics import DEAD_LETTER_SUFFIX, Topic
from prometheus_client import Counter, Gauge

from hearth_kit.db import Database
from hearth_kit.inbox import first_delivery
from hearth_kit.logging import get_logger

log = get_logger(__name__)

DEAD_LETTERED = Counter("hearth_consumer_dead_lettered_total", "Records parked on a dead-letter topic",
                        ["consumer", "topic"])
CONSUMER_LAG = Gauge("hearth_consumer_lag", "Records behind the partition's end, seen at the last record handled",
                     ["consumer", "topic", "partition"])

# Every consumer acks only after its handler finished; on an error the message is redelivered
# (AckPolicy.ACK would commit past a failed message and lose it, so we nack on error instead).
CONSUMER_ACK_POLICY = AckPolicy.NACK_ON_ERROR


def producer_config(bootstrap: str, *, client_id: str) -> dict[str, Any]:
    """Producer settings that never lose or duplicate an accepted record: idempotent, acks=all."""
    return {
        "bootstrap_servers": bootstrap,
        "client_id": client_id,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 2,
        "max_batch_size": 256 * 1024,
        "compression_type": None,
        "request_timeout_ms": 10_000,
    }


def new_producer(bootstrap: str, *, client_id: str) -> AIOKafkaProducer:
    """An idempotent aiokafka producer (not yet started)."""
    return AIOKafkaProducer(**producer_config(bootstrap, client_id=client_id))


def new_broker(bootstrap: str, *, client_id: str) -> KafkaBroker:
    """A FastStream broker whose own producer is idempotent with acks=all."""
    return KafkaBroker(bootstrap, client_id=client_id, acks="all", enable_idempotence=True, logger=None)


async def ensure_topics(bootstrap: str, topics: Iterable[Topic], *, replication: int = 1) -> None:
    """Create the topics that do not exist yet (with their declared partition counts)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="hearth-topics")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(t.name, t.partitions, replication) for t in topics if t.name not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another replica won the race
    finally:
        await admin.close()


EventHandler = Callable[[asyncpg.Connection, Envelope], Awaitable[None]]

_ATTEMPTS_MAX_TRACKED = 10_000


class DeadLetters:
    """Records a consumer cannot handle are parked on `<topic>.dlt` instead of blocking their partition.

    A failing record is retried in place (the consumer nacks, Kafka redelivers) with a growing pause, up to
    `max_attempts`; then it is written, byte for byte with its key and headers plus `hearth-dlt-*` headers
    (consumer, source topic/partition/offset, attempts, error), to the dead-letter topic with the same
    acks=all idempotent producer as events, and only after that write is acknowledged is the record acked.
    Nothing is dropped: replaying a parked record is producing it to its topic again. A record that is not
    a CloudEvent at all can never succeed, so it is parked at once.
    """

    def __init__(self, bootstrap: str, *, client_id: str, max_attempts: int = 5, first_pause: float = 0.2,
                 max_pause: float = 5.0) -> None:
        self.bootstrap = bootstrap
        self.max_attempts = max_attempts
        self.first_pause = first_pause
        self.max_pause = max_pause
        self._client_id = f"{client_id}-dlt"
        # made on the first park: most consumers never park anything, and aiokafka reports a producer
        # that was made but never started as "Unclosed AIOKafkaProducer" when it is collected
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self._attempts: dict[tuple[str, int, int], int] = {}
        self._topics_ready: set[str] = set()

    async def retry_later(self, record: Any) -> bool:
        """Count a failed attempt; True (after a pause) while the record should be retried in place."""
        where = (record.topic, record.partition, record.offset)
        attempts = self._attempts.get(where, 0) + 1
        if len(self._attempts) >= _ATTEMPTS_MAX_TRACKED:
            self._attempts.clear()
        self._attempts[where] = attempts
        if attempts >= self.max_attempts:
            return False
        await asyncio.sleep(min(self.first_pause * 2 ** (attempts - 1), self.max_pause))
        return True

    def succeeded(self, record: Any) -> None:
        self._attempts.pop((record.topic, record.partition, record.offset), None)

    async def park(self, record: Any, *, consumer: str, reason: str) -> None:
        """Write the record to its dead-letter topic (raises if Kafka does not take it: then it is retried)."""
        where = (record.topic, record.partition, record.offset)
        attempts = self._attempts.pop(where, 1)
        topic = record.topic + DEAD_LETTER_SUFFIX
        async with self._lock:
            if self._producer is None:
                fresh = new_producer(self.bootstrap, client_id=self._client_id)
                await fresh.start()
                self._producer = fresh
            producer = self._producer
            if topic not in self._topics_ready:  # explicit: brokers may not auto-create topics
                await ensure_topics(self.bootstrap, [Topic(topic, partitions=1)])
                self._topics_ready.add(topic)
        headers = [*(record.headers or ()), *(
            (f"hearth-dlt-{k}", str(v).encode()) for k, v in {
                "consumer": consumer, "topic": record.topic, "partition": record.partition,
                "offset": record.offset, "attempts": attempts, "error": reason[:1000]}.items())]
        await producer.send_and_wait(topic, record.value, key=record.key, headers=headers)
        DEAD_LETTERED.labels(consumer, record.topic).inc()
        log.error("record parked on the dead-letter topic", consumer=consumer, topic=record.topic,
                  partition=record.partition, offset=record.offset, attempts=attempts, reason=reason[:300])

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()


def idempotent_consumer(
    *, db: Database, consumer: str, handle: EventHandler, types: frozenset[str] | None = None,
    dead_letters: DeadLetters | None = None,
) -> Callable[[KafkaMessage], Awaitable[None]]:
    """Wrap `handle` so each event has one effect, however often Kafka delivers it.

    The handler runs in a transaction scoped to the event's org, together with the inbox row. With
    `dead_letters`, a record that keeps failing (or is not a CloudEvent at all) is parked on the topic's
    dead-letter topic after its retries instead of blocking the partition; without, a failing record is
    retried forever and a malformed one is logged and skipped.
    """

    async def on_message(msg: KafkaMessage) -> None:
        record = msg.raw_message
        _observe_lag(consumer, msg)
        try:
            envelope = parse_cloudevent(msg.body)
        except ValueError as exc:
            if dead_letters is None:
                log.error("skipping malformed event", consumer=consumer, error=str(exc))
                return
            await dead_letters.park(record, consumer=consumer, reason=f"not a CloudEvent: {exc}")
            return
        if types is not None and envelope.type not in types:
            return
        try:
            async with db.transaction(org_id=envelope.orgid) as conn:
                if await first_delivery(conn, consumer=consumer, event_id=envelope.id):
                    await handle(conn, envelope)
        except Exception as exc:
            if dead_letters is None or await dead_letters.retry_later(record):
                log.warning("event handling failed; it will be redelivered", consumer=consumer,
                            event_id=envelope.id, error=repr(exc))
                raise
            await dead_letters.park(record, consumer=consumer, reason=repr(exc))
            return
        if dead_letters is not None:
            dead_letters.succeeded(record)

    return on_message


def _observe_lag(consumer: str, msg: KafkaMessage) -> None:
    """Lag = the partition's high watermark (as this consumer last fetched it) minus the next offset."""
    record = msg.raw_message
    highwater = getattr(getattr(msg, "consumer", None), "highwater", None)
    if highwater is None or isinstance(record, tuple):
        return
    try:
        end = highwater(TopicPartition(record.topic, record.partition))
    except Exception:  # a consumer that does not track the partition (e.g. in tests): nothing to report
        return
    if end is not None:
        CONSUMER_LAG.labels(consumer, record.topic, str(record.partition)).set(max(end - record.offset - 1, 0))


async def wait_for(predicate: Callable[[], Awaitable[bool]], *, timeout: float, interval: float = 0.05) -> bool:
    """Poll an async predicate until it holds or the timeout passes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(interval)
    return await predicate()
