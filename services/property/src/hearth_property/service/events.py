"""A batched outbox append: many events in two statements (bulk operations write hundreds at once).

Same rows and sequencing as `hearth_kit.outbox.append`, one round trip per table instead of per event.
Candidate for hoisting into the kit.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from hearth_contracts.envelope import EventData, to_cloudevent_bytes
from hearth_kit.ids import new_id


async def append_many(
    conn: asyncpg.Connection, *, source: str, events: Sequence[tuple[EventData, str]], org_id: str,
    traceparent: str | None = None,
) -> list[str]:
    """Write (data, subject) events to the outbox in order, inside the caller's transaction."""
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
