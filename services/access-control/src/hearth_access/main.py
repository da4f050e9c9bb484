"""Builds the access-control service: routes, consumers, jobs and the vendor hub on the shared runtime."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from fastapi import FastAPI, Response
from hearth_kit.problems import problem_response
from hearth_kit.runtime import create_service, serve

from hearth_access import repository as repo
from hearth_access.api import router
from hearth_access.config import Settings
from hearth_access.consumers import subscriptions
from hearth_access.jobs import JOBS
from hearth_access.runtime import AccessRuntime
from hearth_access.service.vendors import VendorHub

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


@contextlib.asynccontextmanager
async def vendor_hub(runtime: AccessRuntime) -> AsyncIterator[None]:
    """One HTTP client for every vendor call, held open while the service runs."""
    hub = runtime.state
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
    async with httpx.AsyncClient(limits=limits, timeout=runtime.settings.vendor_timeout_seconds) as client:
        hub.open(runtime.db, client)
        try:
            yield
        finally:
            # a command cut off here stays claimed; the sweeper settles it from the lock's state
            for task in list(hub.background):
                task.cancel()
            await asyncio.gather(*hub.background, return_exceptions=True)
            hub.close()


def _with_vendor_health(app: FastAPI, hub: VendorHub) -> None:
    """/readyz: not ready without database or Kafka; ready but "degraded" while a lock vendor is failing
    (a vendor outage must not take the service out of rotation: reads and code bookkeeping still work)."""
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) != "/readyz"]

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        results = {name: await check() for name, check in app.state.readiness.items()}
        if not all(results.values()):
            failing = ", ".join(n for n, v in results.items() if not v)
            return problem_response(None, status=503, detail=f"not ready: {failing}", checks=results)
        async with hub.db.system_transaction() as conn:
            degraded = await repo.degraded_vendor_count(conn)
        body = f'{{"status":"degraded","degraded_lock_vendors":{degraded}}}' if degraded else '{"status":"ready"}'
        return Response(content=body, media_type="application/json")


def build_app(settings: Settings | None = None) -> FastAPI:
    """The ASGI app (used by uvicorn and by tests)."""
    settings = settings or Settings()
    hub = VendorHub(settings)
    app = create_service(
        settings=settings, migrations_dir=MIGRATIONS, routers=[router], state=hub, subscriptions=subscriptions(hub),
        jobs=JOBS, resources=[vendor_hub], admin_database_url=os.environ.get("HEARTH_ADMIN_DATABASE_URL"),
    )
    _with_vendor_health(app, hub)
    return app


def run() -> None:
    """Entry point: `hearth-access-control`."""
    settings = Settings()
    serve(build_app(settings), settings)


if __name__ == "__main__":
    run()
