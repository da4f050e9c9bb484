"""Builds the auth-token service: its routes and its signing-key ring on the shared runtime."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from fastapi import FastAPI
from hearth_kit.runtime import create_service, serve

from hearth_auth_token.api import internal_router, public_router, router
from hearth_auth_token.config import Settings
from hearth_auth_token.keys import KeyRing
from hearth_auth_token.members_api import members_router
from hearth_auth_token.runtime import AuthRuntime

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


async def keep_signing_keys_fresh(runtime: AuthRuntime) -> None:
    """Make sure a signing key exists at start, then follow rotations made by other replicas."""
    while True:
        await runtime.state.current(runtime.db)
        await asyncio.sleep(runtime.settings.signing_keys_refresh_seconds)


def build_app(settings: Settings | None = None) -> FastAPI:
    """The ASGI app (used by uvicorn and by tests)."""
    settings = settings or Settings()
    return create_service(
        settings=settings, state=KeyRing(settings), migrations_dir=MIGRATIONS,
        routers=[public_router, router, internal_router, members_router],
        jobs=[keep_signing_keys_fresh],
        admin_database_url=os.environ.get("HEARTH_ADMIN_DATABASE_URL"),
    )


def run() -> None:
    """Entry point: `hearth-auth-token`."""
    settings = Settings()
    serve(build_app(settings), settings)


if __name__ == "__main__":
    run()
