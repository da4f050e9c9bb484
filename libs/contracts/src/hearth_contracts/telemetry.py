"""Facts the telemetry service publishes on `telemetry.alerts`, keyed by sensor id (DESIGN §4a).

The telemetry service adds its own further events here; these two cross into maintenance and webhooks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from hearth_contracts.envelope import EventData
from hearth_contracts.registry import register
from hearth_contracts.topics import TELEMETRY_ALERTS

SensorKind = Literal[
    "temperature", "humidity", "water_leak", "co2", "energy", "occupancy", "door_contact", "smoke"]
AlertSeverity = Literal["info", "warning", "critical"]


class _AlertEvent(EventData):
    topic = TELEMETRY_ALERTS.name

    alert_id: str = Field(description="Alert (episode) id, alr_...")
    org_id: str = Field(description="Owning org, org_...")
    rule_id: str | None = Field(default=None, description="Rule that raised it; null for the offline check")
    sensor_id: str = Field(description="Sensor id, sen_...")
    sensor_kind: SensorKind = Field(description="What the sensor measures")
    building_id: str = Field(description="Building of the sensor, bld_...")
    unit_id: str | None = Field(default=None, description="Unit of the sensor, unit_..., if any")
    severity: AlertSeverity = Field(description="info, warning or critical")
    condition: str = Field(default="", description="above, below, outside_range, equals or offline")
    value: float | None = Field(default=None, description="Reading that raised or cleared it")
    threshold: float | None = Field(default=None, description="Threshold of the rule, if it has one")


@register
class AlertRaised(_AlertEvent):
    """A sensor's condition started to hold (once per episode)."""

    event_type = "hearth.alert.raised.v1"
    raised_at: datetime = Field(description="When the condition started to hold (RFC 3339)")


@register
class AlertCleared(_AlertEvent):
    """A raised alert's condition ended."""

    event_type = "hearth.alert.cleared.v1"
    raised_at: datetime | None = Field(default=None, description="When the episode was raised")
    cleared_at: datetime = Field(description="When the condition stopped holding (RFC 3339)")
