"""What the routes share: the id path parameters."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from hearth_telemetry.models import ALERT_ID, RULE_ID, SENSOR_ID

SensorId = Annotated[str, Path(pattern=SENSOR_ID, description="Sensor id, sen_...")]
RuleId = Annotated[str, Path(pattern=RULE_ID, description="Alert rule id, rul_...")]
AlertId = Annotated[str, Path(pattern=ALERT_ID, description="Alert id, alr_...")]
