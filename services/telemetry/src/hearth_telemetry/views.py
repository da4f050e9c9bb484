"""Rows to API documents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg


def sensor_view(row: asyncpg.Record, *, default_offline: int) -> dict[str, Any]:
    offline_after = row["offline_after_seconds"] or default_offline
    last_seen = row["last_seen"]
    last = {"ts": row["last_ts"], "value": row["last_value"]} if row["last_ts"] is not None else None
    return {
        "id": row["id"], "building_id": row["building_id"], "unit_id": row["unit_id"], "kind": row["kind"],
        "unit_of_measure": row["unit_of_measure"], "name": row["name"], "external_id": row["external_id"],
        "offline_after_seconds": offline_after, "status": row["status"],
        "online": last_seen is not None and last_seen > datetime.now(UTC) - timedelta(seconds=offline_after),
        "last_reading": last, "last_seen": last_seen, "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


_RULE_FIELDS = ("id", "name", "sensor_id", "kind", "building_id", "condition", "threshold", "threshold_high",
                "for_seconds", "severity", "enabled", "is_default", "created_at", "updated_at")
_ALERT_FIELDS = ("id", "rule_id", "sensor_id", "sensor_kind", "building_id", "unit_id", "severity", "condition",
                 "threshold", "value", "state", "raised_at", "cleared_at", "clear_value")


def rule_view(row: asyncpg.Record) -> dict[str, Any]:
    return {k: row[k] for k in _RULE_FIELDS}


def alert_view(row: asyncpg.Record) -> dict[str, Any]:
    return {k: row[k] for k in _ALERT_FIELDS}
