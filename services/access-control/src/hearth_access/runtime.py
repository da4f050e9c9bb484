"""The access-control service's typed runtime: its settings and its vendor hub (the service's state)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from hearth_kit.runtime import Runtime, current_runtime

from hearth_access.config import Settings
from hearth_access.service.vendors import VendorHub

AccessRuntime = Runtime[Settings, VendorHub]
AccessDeps = Annotated[AccessRuntime, Depends(current_runtime)]


async def _hub(runtime: AccessDeps) -> VendorHub:
    return runtime.state


Hub = Annotated[VendorHub, Depends(_hub)]
