"""Rows → API documents and event payloads (times as RFC 3339)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from hearth_contracts.maintenance import TimeWindow

from hearth_maintenance.domain import allowed_next


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def window_of(row: asyncpg.Record) -> TimeWindow | None:
    if row["window_start"] is None:
        return None
    return TimeWindow(start=row["window_start"], end=row["window_end"])


def request_view(
    row: asyncpg.Record, *, history: list[asyncpg.Record] | None = None,
    comments: list[asyncpg.Record] | None = None,
) -> dict[str, Any]:
    """The API shape of a request; GET one adds its history and comments."""
    doc: dict[str, Any] = {
        "id": row["id"],
        "building_id": row["building_id"],
        "unit_id": row["unit_id"],
        "title": row["title"],
        "description": row["description"],
        "category": row["category"],
        "priority": row["priority"],
        "status": row["status"],
        "allowed_next": allowed_next(row["status"]),
        "source": row["source"],
        "reporter_id": row["reporter_id"],
        "permission_to_enter": row["permission_to_enter"],
        "entry_notes": row["entry_notes"],
        "assignee_id": row["assignee_id"],
        "vendor_name": row["vendor_name"],
        "scheduled_window": None if row["window_start"] is None else {
            "start": _iso(row["window_start"]), "end": _iso(row["window_end"])},
        "due_at": _iso(row["due_at"]),
        "overdue": bool(row["overdue"]),
        "completed_at": _iso(row["completed_at"]),
        "attachments": list(row["attachments"]),
        "reopen_count": row["reopen_count"],
        "sensor_id": row["sensor_id"],
        "alert_id": row["alert_id"],
        "alert_active": row["alert_active"],
        "lock_id": row["lock_id"],
        "created_by": row["created_by"],
        "created_at": _iso(row["created_at"]),
        "updated_at": _iso(row["updated_at"]),
    }
    if history is not None:
        doc["history"] = [history_view(h) for h in history]
    if comments is not None:
        doc["comments"] = [comment_view(c) for c in comments]
    return doc


def history_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "kind": row["kind"], "from": row["from_status"], "to": row["to_status"], "actor_id": row["actor_id"],
        "reason": row["reason"], "details": row["details"], "at": _iso(row["at"]),
    }


def comment_view(row: asyncpg.Record) -> dict[str, Any]:
    return {"id": row["id"], "request_id": row["request_id"], "author_id": row["author_id"], "body": row["body"],
            "created_at": _iso(row["created_at"])}
