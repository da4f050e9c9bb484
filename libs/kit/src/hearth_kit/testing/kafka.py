"""Read real events off a real Kafka topic in tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from hearth_contracts.envelope import Envelope, parse_cloudevent


class EventReader:
    """A consumer positioned at the topic's end when created: it sees only what comes after."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self._bootstrap = bootstrap
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self.seen: list[tuple[bytes | None, Envelope]] = []
        self.headers: list[dict[str, bytes]] = []  # each seen record's Kafka headers, in `seen` order
        self.values: list[bytes] = []  # each seen record's raw value

    async def __aenter__(self) -> EventReader:
        await self._consumer.start()
        parts = await self._wait_partitions()
        tps = [TopicPartition(self.topic, p) for p in parts]
        self._consumer.assign(tps)
        await self._consumer.seek_to_end(*tps)
        for tp in tps:  # resolve positions now, so later records are not skipped
            await self._consumer.position(tp)
        return self

    async def _wait_partitions(self) -> set[int]:
        """The topic's partitions, asking the cluster (public admin API) until the topic exists."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap)
        await admin.start()
        try:
            for _ in range(100):
                described = await admin.describe_topics([self.topic])
                parts = {p["partition"] for t in described if t.get("error_code") == 0 for p in t["partitions"]}
                if parts:
                    return parts
                await asyncio.sleep(0.1)
        finally:
            await admin.close()
        raise TimeoutError(f"topic {self.topic} has no partitions")

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def wait_for(
        self, predicate: Callable[[bytes | None, Envelope], bool], *, count: int = 1, timeout: float = 20
    ) -> list[tuple[bytes | None, Envelope]]:
        """Collect events until `count` match `predicate`; raises TimeoutError with what was seen."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        matched = [(k, e) for k, e in self.seen if predicate(k, e)]
        while len(matched) < count:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"saw {len(self.seen)} events, {len(matched)}/{count} matched: "
                                   f"{[e.type for _, e in self.seen][-20:]}")
            batch = await self._consumer.getmany(timeout_ms=int(min(remaining, 0.5) * 1000))
            for records in batch.values():
                for rec in records:
                    env = parse_cloudevent(rec.value)
                    self.seen.append((rec.key, env))
                    self.headers.append({k: bytes(v) for k, v in rec.headers or ()})
                    self.values.append(rec.value)
                    if predicate(rec.key, env):
                        matched.append((rec.key, env))
        return matched
