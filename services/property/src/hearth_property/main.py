"""Builds the property service: its routes, subscriptions and jobs on the shared runtime."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI
from hearth_kit.runtime import create_service, serve

from hearth_property.api import router
from hearth_property.config import Settings
from hearth_property.consumers import SUBSCRIPTIONS
from hearth_property.service.leases import lease_sweep_job

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def build_app(settings: Settings | None = None) -> FastAPI:
    """The ASGI app (used by uvicorn and by tests)."""
    settings = settings or Settings()
    return create_service(
        settings=settings, migrations_dir=MIGRATIONS, routers=[router], subscriptions=SUBSCRIPTIONS,
        jobs=[lease_sweep_job], admin_database_url=os.environ.get("HEARTH_ADMIN_DATABASE_URL"),
    )


def run() -> None:
    """Entry point: `hearth-property`."""
    settings = Settings()
    serve(build_app(settings), settings)


if __name__ == "__main__":
    run()
