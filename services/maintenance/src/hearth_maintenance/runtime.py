"""The maintenance service's typed runtime (its settings; no state of its own)."""

from __future__ import annotations

from hearth_kit.runtime import Runtime

from hearth_maintenance.config import Settings

MaintenanceRuntime = Runtime[Settings, None]
