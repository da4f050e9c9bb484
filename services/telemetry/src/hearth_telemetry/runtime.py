"""The telemetry service's typed runtime: its settings and the long-lived objects of its hot paths."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends
from hearth_kit.runtime import Runtime, current_runtime

from hearth_telemetry.config import Settings
from hearth_telemetry.ingest import ReadingsProducer
from hearth_telemetry.sensor_cache import SensorCache
from hearth_telemetry.stream import StreamHub


class TelemetryState:
    """Made with the settings, before the database is open: each object starts on first use."""

    def __init__(self, settings: Settings) -> None:
        self.sensor_cache = SensorCache(ttl_seconds=settings.sensor_cache_seconds)
        self.producer = ReadingsProducer(settings.kafka_bootstrap, client_id=f"hearth-{settings.service_name}-ingest")
        self.stream_hub = StreamHub(settings.kafka_bootstrap, self.sensor_cache, queue_max=settings.stream_queue_max)
        # Set once every writer task has its partitions (tests wait for it before producing).
        self.writer_ready = asyncio.Event()


TelemetryRuntime = Runtime[Settings, TelemetryState]
TelemetryDeps = Annotated[TelemetryRuntime, Depends(current_runtime)]
