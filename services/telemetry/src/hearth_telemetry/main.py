"""Builds the telemetry service: routes, the property projection, the writer and the background jobs."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from hearth_kit.runtime import Runtime, create_service, serve

from hearth_telemetry.alerts import offline_job
from hearth_telemetry.api import router
from hearth_telemetry.config import Settings
from hearth_telemetry.consumers import wire
from hearth_telemetry.ingest import readings_producer
from hearth_telemetry.maintenance import maintenance_job
from hearth_telemetry.sensor_cache import SensorCache
from hearth_telemetry.stream import StreamHub
from hearth_telemetry.writer import writer_job

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


@contextlib.asynccontextmanager
async def stream_hub(runtime: Runtime) -> AsyncIterator[None]:
    settings: Settings = runtime.settings  # type: ignore[assignment]
    hub = StreamHub(settings.kafka_bootstrap, runtime.extras["sensor_cache"], queue_max=settings.stream_queue_max)
    runtime.extras["stream_hub"] = hub
    try:
        yield
    finally:
        await hub.stop()


def build_app(settings: Settings | None = None) -> FastAPI:
    """The ASGI app (used by uvicorn and by tests)."""
    settings = settings or Settings()

    def consumers(broker, runtime: Runtime) -> None:  # type: ignore[no-untyped-def]
        # The sensor cache is made here because this runs before jobs and resources start.
        runtime.extras["sensor_cache"] = SensorCache(runtime.db, ttl_seconds=settings.sensor_cache_seconds)
        runtime.extras["writer_ready"] = asyncio.Event()
        wire(broker, runtime)

    return create_service(
        settings=settings, migrations_dir=MIGRATIONS, routers=[router], consumers=consumers,
        jobs=[maintenance_job, writer_job, offline_job], resources=[readings_producer, stream_hub],
        admin_database_url=os.environ.get("HEARTH_ADMIN_DATABASE_URL"),
    )


def run() -> None:
    """Entry point: `hearth-telemetry`."""
    settings = Settings()
    serve(build_app(settings), settings)


if __name__ == "__main__":
    run()
