"""Telemetry service settings (env prefix HEARTH_TELEMETRY_, falling back to HEARTH_)."""

from __future__ import annotations

from typing import Literal

from hearth_kit.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict


class Settings(ServiceSettings):
    """Telemetry service settings."""

    model_config = SettingsConfigDict(env_prefix="HEARTH_TELEMETRY_", extra="ignore")

    service_name: str = "telemetry"
    db_schema: str = "telemetry"
    port: int = 8105
    database_url: str = "postgresql://hearth_telemetry:hearth_telemetry@127.0.0.1:5432/hearth"
    # A full ingest batch (10,000 readings) is about 1 MB of JSON.
    max_body_bytes: int = 4 * 1_048_576

    # Ingest: how far ahead of the server clock a reading may be stamped.
    max_future_seconds: float = 300.0
    # Writer: a batch is what has arrived by the time the previous one is written (so it grows with the
    # load and costs no wait when idle), up to this many readings; the broker holds an idle fetch at most
    # `writer_flush_ms`.
    writer_enabled: bool = True
    writer_max_readings: int = 50_000
    writer_flush_ms: int = 100
    # How often, at most, the stored readings' minute rollups, last values and alert episodes catch up
    # (see writer.py: per batch they cost as much as storing it; idle, a batch is rolled up this late).
    writer_roll_ms: int = 250
    # Consumers of the writer group per process (each has its own partitions and database connection,
    # so one decodes while the other waits for Postgres).
    writer_tasks: int = 2
    # Where a new writer group starts: earliest (a fresh deployment stores what the topic retains).
    writer_start: Literal["earliest", "latest"] = "earliest"
    # Retention defaults (per org overridable): raw readings and minute rollups.
    raw_retention_days: int = 30
    rollup_retention_days: int = 730
    # Partitions are created this many days ahead; the maintenance job runs this often.
    partitions_ahead_days: int = 3
    maintenance_interval_seconds: float = 3600.0
    # A sensor silent for this long raises an `offline` alert (sensor may override); checked this often.
    offline_after_seconds: int = 900
    offline_check_seconds: float = 30.0
    # Live stream: heartbeat period, and how many undelivered messages make a client "too slow".
    stream_heartbeat_seconds: float = 15.0
    stream_queue_max: int = 1000
    # How long a just-created building/unit id may take to arrive from property.events.
    projection_wait_seconds: float = 2.0
    # How long the in-process sensor cache trusts what it loaded.
    sensor_cache_seconds: float = 5.0
