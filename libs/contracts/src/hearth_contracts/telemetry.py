"""Facts the telemetry service publishes.

- `telemetry.alerts`, keyed by sensor id (DESIGN §4a): alert raised/cleared, read by maintenance and webhooks.
- `telemetry.events`, keyed by the aggregate id: sensor and alert-rule lifecycle facts (webhooks fans them
  out like every `*.events` topic).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from hearth_contracts.envelope import EventData
from hearth_contracts.registry import register
from hearth_contracts.topics import TELEMETRY_ALERTS, TELEMETRY_EVENTS

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


# --- sensors and alert rules (telemetry.events) ----------------------------------------------------

SensorStatus = Literal["active", "retired"]
AlertCondition = Literal["above", "below", "outside_range", "equals"]


class _TelemetryEvent(EventData):
    topic = TELEMETRY_EVENTS.name


class SensorSnapshot(_TelemetryEvent):
    """The whole sensor as it stands after the change (event-carried state)."""

    sensor_id: str = Field(description="Sensor id, sen_...")
    org_id: str = Field(description="Owning org, org_...")
    building_id: str = Field(description="Building of the sensor, bld_...")
    unit_id: str | None = Field(default=None, description="Unit of the sensor, unit_..., if any")
    kind: SensorKind = Field(description="What the sensor measures")
    unit_of_measure: str = Field(description="e.g. celsius, percent, ppm, kwh")
    name: str
    external_id: str | None = Field(default=None, description="The device's own id, unique per org")
    offline_after_seconds: int | None = Field(default=None, description="Own offline window; null = service default")
    status: SensorStatus
    created_at: datetime
    updated_at: datetime


@register
class SensorRegistered(SensorSnapshot):
    """A sensor was registered."""

    event_type = "hearth.sensor.registered.v1"


@register
class SensorUpdated(SensorSnapshot):
    """A sensor's details changed (name, unit, unit of measure, external id or offline window)."""

    event_type = "hearth.sensor.updated.v1"


@register
class SensorRetired(SensorSnapshot):
    """A sensor was retired: its history stays, it accepts no more readings."""

    event_type = "hearth.sensor.retired.v1"


class AlertRuleSnapshot(_TelemetryEvent):
    """The whole alert rule as it stands after the change."""

    rule_id: str = Field(description="Alert rule id, rul_...")
    org_id: str = Field(description="Owning org, org_...")
    name: str
    sensor_id: str | None = Field(default=None, description="The one sensor it watches, or null")
    kind: SensorKind | None = Field(default=None, description="The kind of sensor it watches, or null")
    building_id: str | None = Field(default=None, description="Limits a kind rule to one building, or null")
    condition: AlertCondition
    threshold: float | None = None
    threshold_high: float | None = None
    for_seconds: int = Field(description="How long the condition must hold before an alert is raised")
    severity: AlertSeverity
    enabled: bool
    is_default: bool = Field(description="The org's built-in water-leak rule")
    created_at: datetime
    updated_at: datetime


@register
class AlertRuleCreated(AlertRuleSnapshot):
    """An alert rule was created (the default water-leak rule included)."""

    event_type = "hearth.alert_rule.created.v1"


@register
class AlertRuleUpdated(AlertRuleSnapshot):
    """An alert rule changed."""

    event_type = "hearth.alert_rule.updated.v1"


@register
class AlertRuleDeleted(_TelemetryEvent):
    """An alert rule was deleted (its open episodes stay as they are)."""

    event_type = "hearth.alert_rule.deleted.v1"
    rule_id: str = Field(description="Alert rule id, rul_...")
    org_id: str = Field(description="Owning org, org_...")
