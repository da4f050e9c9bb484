"""Request and response shapes of the telemetry HTTP API (validated at the edge, documented in OpenAPI)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from hearth_contracts.telemetry import AlertSeverity, SensorKind
from pydantic import BaseModel, ConfigDict, Field, model_validator

from hearth_telemetry.domain import MAX_BATCH, Condition

_Strict = ConfigDict(extra="forbid", str_strip_whitespace=True)
# Printable text without control characters (NUL and friends are refused, not stored).
_TEXT = r"^[^\x00-\x1f\x7f]*$"
BUILDING_ID = r"^bld_[0-9a-z]{26}$"
UNIT_ID = r"^unit_[0-9a-z]{26}$"
SENSOR_ID = r"^sen_[0-9a-z]{26}$"
RULE_ID = r"^rul_[0-9a-z]{26}$"
ALERT_ID = r"^alr_[0-9a-z]{26}$"


class SensorIn(BaseModel):
    """The body of POST /v1/sensors."""

    model_config = _Strict

    building_id: str = Field(pattern=BUILDING_ID, description="Building the sensor is in, bld_...")
    unit_id: str | None = Field(default=None, pattern=UNIT_ID, description="Unit the sensor is in, unit_...")
    kind: SensorKind
    unit_of_measure: str | None = Field(default=None, min_length=1, max_length=32, pattern=_TEXT,
                                        description="e.g. celsius, percent, ppm, kwh (default per kind)")
    name: str = Field(min_length=1, max_length=200, pattern=_TEXT)
    external_id: str | None = Field(default=None, min_length=1, max_length=200, pattern=_TEXT,
                                    description="The device's own id, unique per org")
    offline_after_seconds: int | None = Field(default=None, ge=1, le=30 * 86400,
                                              description="Silence that raises an offline alert (service default)")


class SensorPatch(BaseModel):
    """The body of PATCH /v1/sensors/{id}: only the fields sent change."""

    model_config = _Strict

    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=_TEXT)
    unit_id: str | None = Field(default=None, pattern=UNIT_ID)
    unit_of_measure: str | None = Field(default=None, min_length=1, max_length=32, pattern=_TEXT)
    external_id: str | None = Field(default=None, min_length=1, max_length=200, pattern=_TEXT)
    offline_after_seconds: int | None = Field(default=None, ge=1, le=30 * 86400)


class LastReading(BaseModel):
    ts: datetime
    value: float


class SensorOut(BaseModel):
    id: str
    building_id: str
    unit_id: str | None
    kind: SensorKind
    unit_of_measure: str
    name: str
    external_id: str | None
    offline_after_seconds: int
    status: Literal["active", "retired"]
    online: bool
    last_reading: LastReading | None
    last_seen: datetime | None
    created_at: datetime
    updated_at: datetime


class ReadingIn(BaseModel):
    """One reading of an ingest batch (documentation: the route validates items one by one)."""

    sensor_id: str | None = Field(default=None, description="Sensor id, sen_... (or give external_id)")
    external_id: str | None = Field(default=None, description="The device's own id")
    ts: datetime = Field(description="When it was measured (RFC 3339 with offset, or epoch milliseconds)")
    value: float = Field(description="The measurement (true/false allowed for binary kinds)")


class ReadingsBatchIn(BaseModel):
    readings: list[ReadingIn] = Field(max_length=MAX_BATCH, description=f"1..{MAX_BATCH} readings")


class ItemError(BaseModel):
    index: int
    reason: str


class IngestResult(BaseModel):
    accepted: int
    rejected: int
    errors: list[ItemError]


class IngestDoc(BaseModel):
    data: IngestResult


class Point(BaseModel):
    ts: datetime
    value: float | None


class SeriesMeta(BaseModel):
    sensor_id: str
    interval: str
    agg: str
    from_: datetime = Field(alias="from")
    to: datetime
    available_from: datetime = Field(description="Oldest time this interval still has data for (retention)")
    complete: bool = Field(description="False when part of the range is beyond the retention horizon")
    next_cursor: str | None = Field(default=None, description="raw only: pass as `cursor` for the next page")

    model_config = ConfigDict(populate_by_name=True)


class SeriesDoc(BaseModel):
    data: list[Point]
    meta: SeriesMeta


class RetentionIn(BaseModel):
    model_config = _Strict

    raw_retention_days: int = Field(ge=1, le=365)
    rollup_retention_days: int = Field(ge=1, le=3650)


class RetentionOut(BaseModel):
    raw_retention_days: int
    rollup_retention_days: int


class RetentionDoc(BaseModel):
    data: RetentionOut


class AlertRuleIn(BaseModel):
    """The body of POST /v1/alert-rules: for one sensor, or for a kind (optionally in one building)."""

    model_config = _Strict

    name: str = Field(min_length=1, max_length=200, pattern=_TEXT)
    sensor_id: str | None = Field(default=None, pattern=SENSOR_ID)
    kind: SensorKind | None = None
    building_id: str | None = Field(default=None, pattern=BUILDING_ID)
    condition: Condition
    threshold: float | None = Field(default=None, ge=-1e12, le=1e12)
    threshold_high: float | None = Field(default=None, ge=-1e12, le=1e12,
                                         description="Upper bound for outside_range")
    for_seconds: int = Field(default=0, ge=0, le=7 * 86400, description="How long the condition must hold")
    severity: AlertSeverity = "warning"
    enabled: bool = True

    @model_validator(mode="after")
    def _coherent(self) -> AlertRuleIn:
        check_rule_shape(self.sensor_id, self.kind, self.building_id, self.condition, self.threshold,
                         self.threshold_high)
        return self


def check_rule_shape(sensor_id: str | None, kind: str | None, building_id: str | None, condition: str,
                     threshold: float | None, threshold_high: float | None) -> None:
    """ValueError unless the rule names a target and the thresholds its condition needs."""
    if sensor_id is None and kind is None:
        raise ValueError("give sensor_id, or kind (optionally with building_id)")
    if sensor_id is not None and (kind is not None or building_id is not None):
        raise ValueError("a rule targets either one sensor_id or a kind/building, not both")
    if threshold is None:
        raise ValueError(f"condition {condition} needs threshold")
    if condition == "outside_range":
        if threshold_high is None or threshold_high < threshold:
            raise ValueError("outside_range needs threshold (low) and threshold_high >= threshold")
    elif threshold_high is not None:
        raise ValueError("threshold_high is only for outside_range")


class AlertRulePatch(BaseModel):
    model_config = _Strict

    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=_TEXT)
    condition: Condition | None = None
    threshold: float | None = Field(default=None, ge=-1e12, le=1e12)
    threshold_high: float | None = Field(default=None, ge=-1e12, le=1e12)
    for_seconds: int | None = Field(default=None, ge=0, le=7 * 86400)
    severity: AlertSeverity | None = None
    enabled: bool | None = None


class AlertRuleOut(BaseModel):
    id: str
    name: str
    sensor_id: str | None
    kind: SensorKind | None
    building_id: str | None
    condition: Condition
    threshold: float | None
    threshold_high: float | None
    for_seconds: int
    severity: AlertSeverity
    enabled: bool
    is_default: bool
    created_at: datetime
    updated_at: datetime


class AlertOut(BaseModel):
    id: str
    rule_id: str | None
    sensor_id: str
    sensor_kind: SensorKind
    building_id: str
    unit_id: str | None
    severity: AlertSeverity
    condition: str
    threshold: float | None
    value: float | None
    state: Literal["raised", "cleared"]
    raised_at: datetime
    cleared_at: datetime | None
    clear_value: float | None
