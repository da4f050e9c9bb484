"""Typed subscriptions: a topic, a consumer group and, per event model, the handler that takes it.

    PAYMENTS = Subscription(
        topic=BILLING_EVENTS, group="property-billing-projection",
        handlers=[on(PaymentRecorded, project_payment)],
    )

`project_payment(tx: Tx, payment: PaymentRecorded) -> None` gets the payload already validated against
its model; the kit dispatches on the CloudEvent `type`, so no service writes that `if` itself. Each
record is handled once (inbox row in the handler's transaction, `idempotent_consumer`), events of
other types on the topic are skipped, and a record that keeps failing is parked on `<topic>.dlt`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import asyncpg
from faststream.kafka import KafkaBroker
from hearth_contracts.envelope import Envelope, EventData
from hearth_contracts.topics import Topic

from hearth_kit.db import Database
from hearth_kit.messaging import CONSUMER_ACK_POLICY, DeadLetters, idempotent_consumer
from hearth_kit.tx import Tx

E = TypeVar("E", bound=EventData)


@dataclass(frozen=True)
class On(Generic[E]):
    """One event model and the handler of its payloads."""

    model: type[E]
    handler: Callable[[Tx, E], Awaitable[None]]


def on(model: type[E], handler: Callable[[Tx, E], Awaitable[None]]) -> On[E]:
    """Pair an event model with its handler (typed: the handler must take that model)."""
    return On(model, handler)


@dataclass(frozen=True)
class Subscription:
    """A consumer group on one topic, dispatching each event type to its handler.

    `name` identifies the consumer in the inbox and dead-letter headers (default: the group).
    """

    topic: Topic
    group: str
    handlers: Sequence[On[Any]]
    name: str = ""
    from_beginning: bool = True
    _by_type: dict[str, On[Any]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_type: dict[str, On[Any]] = {}
        for entry in self.handlers:
            if entry.model.topic != self.topic.name:
                raise ValueError(f"{entry.model.__name__} is published on {entry.model.topic}, not {self.topic.name}")
            if entry.model.event_type in by_type:
                raise ValueError(f"two handlers for {entry.model.event_type}")
            by_type[entry.model.event_type] = entry
        if not by_type:
            raise ValueError("a subscription needs at least one handler")
        object.__setattr__(self, "_by_type", by_type)

    @property
    def consumer(self) -> str:
        return self.name or self.group

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset(self._by_type)

    async def dispatch(self, conn: asyncpg.Connection, envelope: Envelope, *, source: str) -> None:
        """Validate the payload against its model and run its handler in the given transaction."""
        entry = self._by_type[envelope.type]
        tx = Tx(conn=conn, org_id=envelope.orgid, source=source, traceparent=envelope.traceparent, envelope=envelope)
        await entry.handler(tx, envelope.data_as(entry.model))

    def attach(self, broker: KafkaBroker, *, db: Database, source: str, dead_letters: DeadLetters | None) -> None:
        """Register the subscriber on the broker (before it starts)."""

        async def handle(conn: asyncpg.Connection, envelope: Envelope) -> None:
            await self.dispatch(conn, envelope, source=source)

        broker.subscriber(
            self.topic.name, group_id=self.group, ack_policy=CONSUMER_ACK_POLICY,
            auto_offset_reset="earliest" if self.from_beginning else "latest",
        )(idempotent_consumer(db=db, consumer=self.consumer, handle=handle, types=self.event_types,
                              dead_letters=dead_letters))
