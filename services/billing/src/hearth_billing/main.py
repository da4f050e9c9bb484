"""Builds the billing service: its routes, the property.events subscription and the posting job."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI
from hearth_kit.runtime import create_service, serve

from hearth_billing.api import router
from hearth_billing.config import Settings
from hearth_billing.consumers import SUBSCRIPTIONS
from hearth_billing.service.postings import posting_job

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def build_app(settings: Settings | None = None) -> FastAPI:
    """The ASGI app (used by uvicorn and by tests)."""
    settings = settings or Settings()
    return create_service(
        settings=settings, migrations_dir=MIGRATIONS, routers=[router], subscriptions=SUBSCRIPTIONS,
        jobs=[posting_job], admin_database_url=os.environ.get("HEARTH_ADMIN_DATABASE_URL"),
    )


def run() -> None:
    """Entry point: `hearth-billing`."""
    settings = Settings()
    serve(build_app(settings), settings)


if __name__ == "__main__":
    run()
