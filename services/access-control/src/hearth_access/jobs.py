"""Background jobs: status polling, periodic import, the code scheduler, the attempt sweeper."""

from __future__ import annotations

import asyncio

from hearth_kit.logging import get_logger

from hearth_access.runtime import AccessRuntime
from hearth_access.service import automations, codes, commands, polling, vendors
from hearth_access.service.vendors import VendorHub

log = get_logger(__name__)


async def hub_of(runtime: AccessRuntime) -> VendorHub:
    """The vendor hub, once open (the kit starts jobs before the service's resources)."""
    await runtime.state.opened.wait()
    return runtime.state


async def lock_polling_job(runtime: AccessRuntime) -> None:
    """Poll every vendor's lock status and events."""
    hub = await hub_of(runtime)
    while True:
        await polling.poll_pass(hub)
        await asyncio.sleep(hub.settings.status_poll_seconds)


async def import_job(runtime: AccessRuntime) -> None:
    """Re-import every vendor's listings and locks now and then."""
    hub = await hub_of(runtime)
    while True:
        await asyncio.sleep(hub.settings.import_every_seconds)
        await vendors.import_job_pass(hub)


async def code_scheduler_job(runtime: AccessRuntime) -> None:
    """Remove the codes of leases whose termination day came; program and remove codes at schedule edges;
    read back per-lock states."""
    hub = await hub_of(runtime)
    while True:
        try:
            if await automations.remove_due_leases(hub):
                hub.wake_sync()
        except Exception:
            log.exception("scheduled lease code removal failed")
        await codes.sync_pass(hub)
        await codes.wait_or_wake(hub.sync_wake, hub.settings.code_sync_seconds)


async def attempt_sweeper_job(runtime: AccessRuntime) -> None:
    """End action attempts that outlived their expiry."""
    hub = await hub_of(runtime)
    while True:
        await commands.sweep_expired(hub)
        await asyncio.sleep(hub.settings.attempt_sweep_seconds)


JOBS = [lock_polling_job, import_job, code_scheduler_job, attempt_sweeper_job]
