"""Use cases of the readings history: retention per org, and a sensor's series (raw or downsampled)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hearth_kit.errors import InvalidInput, NotFound
from hearth_kit.tx import Tx

from hearth_telemetry import repository as repo
from hearth_telemetry.config import Settings
from hearth_telemetry.domain import INTERVAL_SECONDS

MAX_BUCKETS = 10_000


async def retention(tx: Tx, settings: Settings) -> dict[str, int]:
    """How long the org's raw readings and minute rollups are kept (its override, or the defaults)."""
    row = await repo.retention_of(tx.conn, tx.org_id)
    if row is None:
        return {"raw_retention_days": settings.raw_retention_days,
                "rollup_retention_days": settings.rollup_retention_days}
    return {"raw_retention_days": row["raw_retention_days"], "rollup_retention_days": row["rollup_retention_days"]}


async def set_retention(tx: Tx, *, raw_days: int, rollup_days: int) -> dict[str, int]:
    if rollup_days < raw_days:
        raise InvalidInput("rollup_retention_days must be at least raw_retention_days",
                           errors=[{"field": "rollup_retention_days", "message": "below raw_retention_days",
                                    "code": "too_small"}])
    await repo.set_retention(tx.conn, tx.org_id, raw_days, rollup_days)
    return {"raw_retention_days": raw_days, "rollup_retention_days": rollup_days}


def parse_range(start: datetime | None, end: datetime | None, *, default_span: timedelta) -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    for name, value in (("from", start), ("to", end)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput(f"`{name}` needs a time zone offset (e.g. Z)",
                               errors=[{"field": name, "message": "time zone offset missing", "code": "invalid"}])
    end = end or now + timedelta(minutes=1)
    start = start or end - default_span
    if start >= end:
        raise InvalidInput("`from` must be before `to`",
                           errors=[{"field": "from", "message": "not before `to`", "code": "invalid"}])
    return start, end


async def series(tx: Tx, settings: Settings, *, sensor_id: str, start: datetime | None, end: datetime | None,
                 interval: str, agg: str, limit: int,
                 cursor: datetime | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Raw points (paged by cursor) or buckets of `interval` with `agg`; `meta.complete` is false when the
    range reaches past what is kept."""
    start, end = parse_range(start, end, default_span=timedelta(hours=1) if interval == "raw" else timedelta(days=1))
    keep = await retention(tx, settings)
    days = keep["raw_retention_days"] if interval == "raw" else keep["rollup_retention_days"]
    horizon = datetime.now(UTC) - timedelta(days=days)
    meta: dict[str, Any] = {"sensor_id": sensor_id, "interval": interval, "agg": agg, "from": start, "to": end,
                            "available_from": horizon, "complete": start >= horizon, "next_cursor": None}
    if interval != "raw" and (end - start).total_seconds() / INTERVAL_SECONDS[interval] > MAX_BUCKETS:
        raise InvalidInput(f"the range spans more than {MAX_BUCKETS} {interval} buckets; pick a coarser "
                           "interval or a shorter range",
                           errors=[{"field": "interval", "message": "too many buckets", "code": "too_long"}])
    if await repo.get_sensor(tx.conn, sensor_id) is None:
        raise NotFound.of("sensor", sensor_id)
    if interval == "raw":
        after = cursor if cursor is not None and cursor >= start else None
        rows = await repo.raw_series(tx.conn, sensor_id, start, end, limit=limit + 1, after=after)
        if len(rows) > limit:
            rows = rows[:limit]
            meta["next_cursor"] = rows[-1]["ts"].isoformat()
    else:
        rows = await repo.rollup_series(tx.conn, sensor_id, start, end, seconds=INTERVAL_SECONDS[interval], agg=agg)
    return [{"ts": r["ts"], "value": r["value"]} for r in rows], meta
