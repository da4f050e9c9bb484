"""`Tx`: one unit of work — a transaction scoped to one org, and the events it announces with it.

Use cases take a `Tx` and never open transactions themselves: the kit opens it (for a request in
`hearth_kit.calls.Call`, for an event in `hearth_kit.subscriptions`), commits it when the use case
returns and rolls it back when it raises. Rows and outbox events therefore always commit together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import asyncpg
from hearth_contracts.envelope import Envelope, EventData

from hearth_kit import outbox
from hearth_kit.auth import Principal


@dataclass(frozen=True)
class Tx:
    """An open transaction and who it acts for.

    `principal` is the caller for a request and None for an event; `envelope` is the event being
    handled (None for a request). Events written with `emit` carry the service's `source` and the
    caller's trace context.
    """

    conn: asyncpg.Connection
    org_id: str
    source: str
    principal: Principal | None = None
    traceparent: str | None = None
    envelope: Envelope | None = None

    @property
    def caller(self) -> Principal:
        """The principal of a request (a use case reached from a consumer has none: that is a bug)."""
        if self.principal is None:
            raise RuntimeError("this use case needs a caller, but runs for an event")
        return self.principal

    def for_org(self, org_id: str) -> Tx:
        """The same transaction acting for another org (cross-org jobs in a system transaction only)."""
        return replace(self, org_id=org_id)

    async def emit(self, data: EventData, *, subject: str) -> str:
        """Append one event about aggregate `subject` to the outbox, in this transaction."""
        return await outbox.append(self.conn, source=self.source, data=data, subject=subject, org_id=self.org_id,
                                   traceparent=self.traceparent)

    async def emit_many(self, events: Sequence[tuple[EventData, str]]) -> list[str]:
        """Append many (event, subject) pairs in order, in two statements."""
        return await outbox.append_many(self.conn, source=self.source, events=events, org_id=self.org_id,
                                        traceparent=self.traceparent)
