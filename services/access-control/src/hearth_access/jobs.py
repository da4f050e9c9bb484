"""Background jobs: status polling, periodic import, the code scheduler, the attempt sweeper."""

from __future__ import annotations

import asyncio

from hearth_kit.runtime import Runtime

from hearth_access.service import codes, commands, polling, vendors
from hearth_access.service.vendors import VendorHub


async def hub_of(runtime: Runtime) -> VendorHub:
    """The vendor hub (opened by the service's resource, which starts right after the jobs)."""
    while "hub" not in runtime.extras:  # noqa: ASYNC110 - the kit starts jobs before resources
        await asyncio.sleep(0.05)
    return runtime.extras["hub"]  # type: ignore[no-any-return]


async def lock_polling_job(runtime: Runtime) -> None:
    """Poll every vendor's lock status and events."""
    hub = await hub_of(runtime)
    while True:
        await polling.poll_pass(hub)
        await asyncio.sleep(hub.settings.status_poll_seconds)


async def import_job(runtime: Runtime) -> None:
    """Re-import every vendor's listings and locks now and then."""
    hub = await hub_of(runtime)
    while True:
        await asyncio.sleep(hub.settings.import_every_seconds)
        await vendors.import_job_pass(hub)


async def code_scheduler_job(runtime: Runtime) -> None:
    """Program and remove codes at schedule edges; read back per-lock states."""
    hub = await hub_of(runtime)
    while True:
        await codes.sync_pass(hub)
        await codes.wait_or_wake(hub.sync_wake, hub.settings.code_sync_seconds)


async def attempt_sweeper_job(runtime: Runtime) -> None:
    """End action attempts that outlived their expiry."""
    hub = await hub_of(runtime)
    while True:
        await commands.sweep_expired(hub)
        await asyncio.sleep(hub.settings.attempt_sweep_seconds)


JOBS = [lock_polling_job, import_job, code_scheduler_job, attempt_sweeper_job]
