"""Rows → API documents (times as RFC 3339 strings, ready to send) and event snapshots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def sensor_view(row: asyncpg.Record, *, default_offline: int) -> dict[str, Any]:
    """The API shape of a sensor: its details, its last reading and whether it is heard from."""
    offline_after = row["offline_after_seconds"] or default_offline
    last_seen = row["last_seen"]
    last = {"ts": _iso(row["last_ts"]), "value": row["last_value"]} if row["last_ts"] is not None else None
    return {
        "id": row["id"], "building_id": row["building_id"], "unit_id": row["unit_id"], "kind": row["kind"],
        "unit_of_measure": row["unit_of_measure"], "name": row["name"], "external_id": row["external_id"],
        "offline_after_seconds": offline_after, "status": row["status"],
        "online": last_seen is not None and last_seen > datetime.now(UTC) - timedelta(seconds=offline_after),
        "last_reading": last, "last_seen": _iso(last_seen), "created_at": _iso(row["created_at"]),
        "updated_at": _iso(row["updated_at"]),
    }


_SENSOR_FIELDS = ("building_id", "unit_id", "kind", "unit_of_measure", "name", "external_id",
                  "offline_after_seconds", "status", "org_id", "created_at", "updated_at")


def sensor_snapshot(row: asyncpg.Record) -> dict[str, Any]:
    """The fields of the sensor lifecycle events (the sensor's own offline window, null = default)."""
    return {"sensor_id": row["id"], **{k: row[k] for k in _SENSOR_FIELDS}}


_RULE_FIELDS = ("id", "name", "sensor_id", "kind", "building_id", "condition", "threshold", "threshold_high",
                "for_seconds", "severity", "enabled", "is_default")
_ALERT_FIELDS = ("id", "rule_id", "sensor_id", "sensor_kind", "building_id", "unit_id", "severity", "condition",
                 "threshold", "value", "state", "clear_value")


def rule_view(row: asyncpg.Record) -> dict[str, Any]:
    return {**{k: row[k] for k in _RULE_FIELDS}, "created_at": _iso(row["created_at"]),
            "updated_at": _iso(row["updated_at"])}


def rule_snapshot(row: asyncpg.Record) -> dict[str, Any]:
    """The fields of the alert-rule lifecycle events."""
    return {"rule_id": row["id"], "org_id": row["org_id"],
            **{k: row[k] for k in _RULE_FIELDS if k != "id"}, "created_at": row["created_at"],
            "updated_at": row["updated_at"]}


def alert_view(row: asyncpg.Record) -> dict[str, Any]:
    return {**{k: row[k] for k in _ALERT_FIELDS}, "raised_at": _iso(row["raised_at"]),
            "cleared_at": _iso(row["cleared_at"])}
