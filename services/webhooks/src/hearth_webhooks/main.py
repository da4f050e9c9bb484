"""Builds the webhooks service: routes, the fan-out consumers and the delivery workers."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI
from hearth_kit.runtime import create_service, serve
from hearth_kit.sealing import Sealer

from hearth_webhooks.api import router
from hearth_webhooks.config import Settings
from hearth_webhooks.dispatcher import delivery_job
from hearth_webhooks.fanout import fanout_job
from hearth_webhooks.retention import retention_job
from hearth_webhooks.runtime import WebhooksState

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def build_app(settings: Settings | None = None) -> FastAPI:
    """The ASGI app (used by uvicorn and by tests)."""
    settings = settings or Settings()
    return create_service(
        settings=settings, migrations_dir=MIGRATIONS, routers=[router], jobs=[fanout_job, delivery_job, retention_job],
        state=WebhooksState(Sealer(settings.secret_encryption_keys, setting="HEARTH_WEBHOOKS_SECRET_ENCRYPTION_KEYS")),
        admin_database_url=os.environ.get("HEARTH_ADMIN_DATABASE_URL"),
    )


def run() -> None:
    """Entry point: `hearth-webhooks`."""
    settings = Settings()
    serve(build_app(settings), settings)


if __name__ == "__main__":
    run()
