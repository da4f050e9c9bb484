"""Builds the telemetry service: routes, the property projection, the writer and the background jobs."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from hearth_kit.runtime import create_service, serve

from hearth_telemetry.alerts import offline_job
from hearth_telemetry.api import router
from hearth_telemetry.config import Settings
from hearth_telemetry.consumers import subscriptions
from hearth_telemetry.maintenance import maintenance_job
from hearth_telemetry.runtime import TelemetryRuntime, TelemetryState
from hearth_telemetry.writer import writer_job

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


@contextlib.asynccontextmanager
async def readings_clients(runtime: TelemetryRuntime) -> AsyncIterator[None]:
    """Stops what the readings paths started on first use: the ingest producer and the stream reader."""
    try:
        yield
    finally:
        await runtime.state.producer.stop()
        await runtime.state.stream_hub.stop()


def build_app(settings: Settings | None = None) -> FastAPI:
    """The ASGI app (used by uvicorn and by tests)."""
    settings = settings or Settings()
    return create_service(
        settings=settings, migrations_dir=MIGRATIONS, routers=[router], subscriptions=subscriptions(settings),
        state=TelemetryState(settings),
        jobs=[maintenance_job, writer_job, offline_job], resources=[readings_clients],
        admin_database_url=os.environ.get("HEARTH_ADMIN_DATABASE_URL"),
    )


def run() -> None:
    """Entry point: `hearth-telemetry`."""
    settings = Settings()
    serve(build_app(settings), settings)


if __name__ == "__main__":
    run()
