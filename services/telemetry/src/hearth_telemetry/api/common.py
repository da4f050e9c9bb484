"""What the routes share: the settings and the sensor cache from the runtime, the id path parameters."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from hearth_kit.api import problems
from hearth_kit.runtime import Runtime

from hearth_telemetry.config import Settings
from hearth_telemetry.models import ALERT_ID, RULE_ID, SENSOR_ID
from hearth_telemetry.sensor_cache import SensorCache

SensorId = Annotated[str, Path(pattern=SENSOR_ID, description="Sensor id, sen_...")]
RuleId = Annotated[str, Path(pattern=RULE_ID, description="Alert rule id, rul_...")]
AlertId = Annotated[str, Path(pattern=ALERT_ID, description="Alert id, alr_...")]

# What the kit's documented routes cannot infer: write routes may answer 403 (read-only callers).
WRITE_PROBLEMS = problems(403)


def settings_of(deps: Runtime) -> Settings:
    return deps.settings  # type: ignore[return-value]


def cache_of(deps: Runtime[Any, Any]) -> SensorCache:
    return deps.state.sensor_cache  # type: ignore[no-any-return]
