"""The telemetry service's typed runtime: its settings and the long-lived objects of one process."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends
from hearth_kit.runtime import Runtime, current_runtime

from hearth_telemetry.config import Settings
from hearth_telemetry.sensor_cache import SensorCache

if TYPE_CHECKING:
    from hearth_telemetry.ingest import ReadingsProducer
    from hearth_telemetry.stream import StreamHub
    from hearth_telemetry.writer import ReadingsWriter


@dataclass
class TelemetryState:
    """What one process holds while it runs; each part is set by the job or resource that owns it."""

    writer_ready: asyncio.Event = field(default_factory=asyncio.Event)
    cache: SensorCache | None = None
    producer: ReadingsProducer | None = None
    stream_hub: StreamHub | None = None
    writer: ReadingsWriter | None = None


TelemetryRuntime = Runtime[Settings, TelemetryState]
TelemetryDeps = Annotated[TelemetryRuntime, Depends(current_runtime)]


def sensor_cache(runtime: TelemetryRuntime) -> SensorCache:
    """The process's sensor cache, made on first use (the database exists only once the service runs)."""
    state = runtime.state
    if state.cache is None:
        state.cache = SensorCache(runtime.db, ttl_seconds=runtime.settings.sensor_cache_seconds)
    return state.cache
