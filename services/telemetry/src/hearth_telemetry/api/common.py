"""What the routes share: the settings and the sensor cache from the runtime, the id path parameters."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from hearth_kit.problems import PROBLEM_JSON
from hearth_kit.runtime import Runtime

from hearth_telemetry.config import Settings
from hearth_telemetry.models import ALERT_ID, RULE_ID, SENSOR_ID
from hearth_telemetry.sensor_cache import SensorCache

SensorId = Annotated[str, Path(pattern=SENSOR_ID, description="Sensor id, sen_...")]
RuleId = Annotated[str, Path(pattern=RULE_ID, description="Alert rule id, rul_...")]
AlertId = Annotated[str, Path(pattern=ALERT_ID, description="Alert id, alr_...")]

_PROBLEM = {"content": {PROBLEM_JSON: {"schema": {"type": "object"}}}}
PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"description": desc, **_PROBLEM}
    for code, desc in ((401, "Not authenticated"), (403, "Read-only caller"), (404, "Not found (or another org's)"),
                       (422, "Invalid input"))
}


def settings_of(deps: Runtime) -> Settings:
    return deps.settings  # type: ignore[return-value]


def cache_of(deps: Runtime) -> SensorCache:
    return deps.extras["sensor_cache"]  # type: ignore[no-any-return]
