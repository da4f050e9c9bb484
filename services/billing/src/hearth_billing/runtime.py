"""Billing's typed runtime: its settings (billing keeps no long-lived state of its own)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from hearth_kit.runtime import Runtime, current_runtime

from hearth_billing.config import Settings

BillingRuntime = Runtime[Settings, None]
BillingDeps = Annotated[BillingRuntime, Depends(current_runtime)]
