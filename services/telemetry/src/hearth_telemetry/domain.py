"""Pure telemetry rules: sensor kinds and their physical ranges, reading validation, the Kafka record
format, downsampling intervals and alert evaluation. No I/O here."""

from __future__ import annotations

import math
import struct
import sys
import zlib
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, get_args

import orjson
from hearth_contracts.telemetry import AlertSeverity, SensorKind

KINDS: tuple[str, ...] = get_args(SensorKind)
SEVERITIES: tuple[str, ...] = get_args(AlertSeverity)
BINARY_KINDS = frozenset({"water_leak", "door_contact", "smoke"})

# What a sensor of each kind can physically report (whatever its unit of measure); outside is a fault.
PHYSICAL_RANGE: dict[str, tuple[float, float]] = {
    "temperature": (-100.0, 200.0),
    "humidity": (0.0, 100.0),
    "water_leak": (0.0, 1.0),
    "co2": (0.0, 100_000.0),
    "energy": (0.0, 1e12),
    "occupancy": (0.0, 100_000.0),
    "door_contact": (0.0, 1.0),
    "smoke": (0.0, 1.0),
}
DEFAULT_UNIT: dict[str, str] = {
    "temperature": "celsius", "humidity": "percent", "water_leak": "boolean", "co2": "ppm", "energy": "kwh",
    "occupancy": "count", "door_contact": "boolean", "smoke": "boolean",
}

MAX_BATCH = 10_000
US_PER_S = 1_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Interval = Literal["raw", "1m", "5m", "1h", "1d"]
Aggregate = Literal["avg", "min", "max", "last", "count"]
INTERVAL_SECONDS: dict[str, int] = {"1m": 60, "5m": 300, "1h": 3600, "1d": 86400}

Condition = Literal["above", "below", "outside_range", "equals"]


def to_us(ts: datetime) -> int:
    """Epoch microseconds of an aware datetime (exact: no float rounding)."""
    delta = ts - EPOCH
    return (delta.days * 86_400 + delta.seconds) * US_PER_S + delta.microseconds


def from_us(us: int) -> datetime:
    return datetime.fromtimestamp(us // US_PER_S, UTC).replace(microsecond=us % US_PER_S)


def iso(ts: datetime) -> str:
    """RFC 3339 in UTC with a Z."""
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


# ------------------------------------------------------------------ ingest validation

@dataclass(frozen=True)
class SensorRef:
    """What ingest, the writer and the stream need to know about a sensor."""

    id: str
    org_id: str
    kind: str
    building_id: str
    unit_id: str | None
    active: bool = True
    offline_after_seconds: int | None = None


@dataclass
class BatchVerdict:
    """Valid readings as (sensor_id, ts_us, value) and the per-index errors of the rest."""

    accepted: list[tuple[str, int, float]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)


def parse_ts(raw: object) -> int | None:
    """An RFC 3339 timestamp with an offset (or epoch milliseconds) as epoch µs; None when unusable."""
    if isinstance(raw, str):
        if not 10 <= len(raw) <= 40:
            return None
        try:
            ts = datetime.fromisoformat(raw)
        except ValueError:
            return None
        if ts.tzinfo is None:
            return None
        try:
            return to_us(ts)
        except OverflowError:
            return None
    if isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw) and 0 <= raw < 1e14:
        return int(raw * 1000)
    return None


def parse_value(raw: object) -> float | None:
    if isinstance(raw, bool):
        return 1.0 if raw else 0.0
    if isinstance(raw, int | float):
        value = float(raw)
        return value if math.isfinite(value) else None
    return None


def validate_batch(
    items: list[Any], *, by_id: Callable[[str], SensorRef | None], by_external: Callable[[str], SensorRef | None],
    now_us: int, oldest_us: int, max_future_us: int,
) -> BatchVerdict:
    """Check every item of an ingest batch; an invalid one is reported by its index, the rest go on."""
    verdict = BatchVerdict()
    accepted, errors = verdict.accepted, verdict.errors
    newest_us = now_us + max_future_us
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            errors.append({"index": index, "reason": "not an object"})
            continue
        sid, ext = item.get("sensor_id"), item.get("external_id")
        sensor: SensorRef | None = None
        if isinstance(sid, str) and len(sid) <= 64:
            sensor = by_id(sid)
        elif sid is None and isinstance(ext, str) and 0 < len(ext) <= 200:
            sensor = by_external(ext)
        else:
            errors.append({"index": index, "reason": "sensor_id or external_id (a string) is required"})
            continue
        if sensor is None:
            errors.append({"index": index, "reason": "unknown sensor"})
            continue
        if not sensor.active:
            errors.append({"index": index, "reason": "sensor is retired"})
            continue
        ts = parse_ts(item.get("ts"))
        if ts is None:
            errors.append({"index": index, "reason": "ts must be an RFC 3339 timestamp with an offset"})
            continue
        if ts > newest_us:
            errors.append({"index": index, "reason": "timestamp too far in the future"})
            continue
        if ts < oldest_us:
            errors.append({"index": index, "reason": "timestamp older than retention"})
            continue
        value = parse_value(item.get("value"))
        if value is None:
            errors.append({"index": index, "reason": "value must be a finite number"})
            continue
        low, high = PHYSICAL_RANGE[sensor.kind]
        if not low <= value <= high or (sensor.kind in BINARY_KINDS and value not in (0.0, 1.0)):
            errors.append({"index": index, "reason": f"value out of range for {sensor.kind} ({low:g}..{high:g})"})
            continue
        accepted.append((sensor.id, ts, value))
    return verdict


# ------------------------------------------------------------------ the record on telemetry.readings

READINGS_CONTENT_TYPE = b"application/vnd.hearth.readings.v1+json"
READINGS_BINARY_CONTENT_TYPE = b"application/vnd.hearth.readings.v2+binary"
# The binary record: magic, header length, reading count (little-endian), the JSON header
# {"org_id", "accepted_at", "sensors": [ids]}, then three columns of `count` items: the sensor's index in
# `sensors` (uint32), ts in epoch µs (int64), value (float64). 20 bytes a reading, decoded without a
# Python-level loop; the JSON record stays accepted from device gateways.
_BINARY_MAGIC = b"HRB1"
_BINARY_HEAD = struct.Struct("<4sII")
_BYTES_PER_READING = 4 + 8 + 8
MAX_RECORD_READINGS = 100_000


@dataclass(frozen=True)
class ReadingsRecord:
    """One Kafka record on `telemetry.readings`: a batch of one org's readings.

    JSON: `{"org_id": "org_...", "readings": [["sen_...", ts_epoch_us, value], ...], "accepted_at": epoch_us}`.
    """

    org_id: str
    readings: list[tuple[str, int, float]]
    accepted_at: int = 0

    def encode(self) -> bytes:
        """The JSON form (what device gateways produce, and what the dead-letter topic carries)."""
        return orjson.dumps({"org_id": self.org_id, "readings": self.readings, "accepted_at": self.accepted_at})

    def encode_binary(self) -> bytes:
        """The compact form the ingest API produces (see `_BINARY_MAGIC`)."""
        index: dict[str, int] = {}
        slots = []
        for sensor_id, _, _ in self.readings:
            slot = index.get(sensor_id)
            if slot is None:
                slot = index[sensor_id] = len(index)
            slots.append(slot)
        columns = (array("I", slots), array("q", [r[1] for r in self.readings]),
                   array("d", [r[2] for r in self.readings]))
        if sys.byteorder == "big":
            for column in columns:
                column.byteswap()
        header = orjson.dumps({"org_id": self.org_id, "accepted_at": self.accepted_at, "sensors": list(index)})
        return b"".join((_BINARY_HEAD.pack(_BINARY_MAGIC, len(header), len(slots)), header,
                         *(c.tobytes() for c in columns)))


class UnusableRecord(ValueError):
    """A record on telemetry.readings that no retry can make usable (it goes to the DLT)."""


def decode_record(raw: bytes | None) -> ReadingsRecord:
    """Parse and check a readings record; raises UnusableRecord with the reason."""
    if not raw:
        raise UnusableRecord("empty record")
    if raw[:4] == _BINARY_MAGIC:
        return _decode_binary(raw)
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise UnusableRecord(f"not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise UnusableRecord("not a JSON object")
    org_id, readings = _org_of(doc), doc.get("readings")
    if not isinstance(readings, list) or len(readings) > MAX_RECORD_READINGS:
        raise UnusableRecord("readings must be a list (at most 100,000)")
    out: list[tuple[str, int, float]] = []
    for i, r in enumerate(readings):
        if (not isinstance(r, list) or len(r) != 3 or not isinstance(r[0], str) or len(r[0]) > 64
                or not isinstance(r[1], int) or isinstance(r[1], bool) or not -(2**62) < r[1] < 2**62
                or not isinstance(r[2], int | float) or isinstance(r[2], bool) or not math.isfinite(r[2])):
            raise UnusableRecord(f"reading {i} is not [sensor_id, ts_epoch_us, value]")
        out.append((r[0], r[1], float(r[2])))
    accepted_at = doc.get("accepted_at")
    return ReadingsRecord(org_id, out, accepted_at if isinstance(accepted_at, int) else 0)


US_PER_MINUTE = 60 * US_PER_S
US_PER_DAY = 86_400 * US_PER_S


@dataclass
class MinuteRollup:
    """One sensor's minute as the batch saw it (merged into `rollups_1m` by the writer)."""

    n: int
    total: float
    min_value: float
    max_value: float
    last_ts: int
    last_value: float


def minute_rollups(by_sensor: dict[str, list[tuple[int, float]]]) -> dict[tuple[str, int], MinuteRollup]:
    """Count, sum, min, max and last value per (sensor, minute start in epoch µs) of readings that are all new.

    The same figures the SQL path computes with GROUP BY over the inserted rows, in one pass in Python:
    the writer calls it only when every reading of the batch was inserted (no duplicate in it).
    """
    out: dict[tuple[str, int], MinuteRollup] = {}
    for sensor_id, points in by_sensor.items():
        for ts, value in points:
            key = (sensor_id, ts - ts % US_PER_MINUTE)
            agg = out.get(key)
            if agg is None:
                out[key] = MinuteRollup(1, value, value, value, ts, value)
                continue
            agg.n += 1
            agg.total += value
            if value < agg.min_value:
                agg.min_value = value
            if value > agg.max_value:
                agg.max_value = value
            if ts > agg.last_ts:
                agg.last_ts, agg.last_value = ts, value
    return out


def latest_readings(by_sensor: dict[str, list[tuple[int, float]]]) -> dict[str, tuple[int, float]]:
    """Each sensor's reading with the greatest timestamp in the batch."""
    return {sensor_id: max(points, key=lambda p: p[0]) for sensor_id, points in by_sensor.items()}


def _org_of(doc: Any) -> str:
    org_id = doc.get("org_id") if isinstance(doc, dict) else None
    if not isinstance(org_id, str) or not org_id.startswith("org_") or len(org_id) > 64:
        raise UnusableRecord("org_id missing or malformed")
    return org_id


def _decode_binary(raw: bytes) -> ReadingsRecord:
    if len(raw) < _BINARY_HEAD.size:
        raise UnusableRecord("binary record shorter than its head")
    _, header_len, count = _BINARY_HEAD.unpack_from(raw)
    body = _BINARY_HEAD.size + header_len
    if count > MAX_RECORD_READINGS or len(raw) != body + count * _BYTES_PER_READING:
        raise UnusableRecord("binary record length does not match its reading count")
    try:
        doc = orjson.loads(raw[_BINARY_HEAD.size:body])
    except orjson.JSONDecodeError as exc:
        raise UnusableRecord(f"binary record header is not JSON: {exc}") from exc
    org_id = _org_of(doc)
    sensors, accepted_at = doc.get("sensors"), doc.get("accepted_at")
    if not isinstance(sensors, list) or not all(isinstance(s, str) and len(s) <= 64 for s in sensors):
        raise UnusableRecord("binary record header lacks its sensor list")
    slots, stamps, values = array("I"), array("q"), array("d")
    slots.frombytes(raw[body:body + 4 * count])
    stamps.frombytes(raw[body + 4 * count:body + 12 * count])
    values.frombytes(raw[body + 12 * count:])
    if sys.byteorder == "big":
        for column in (slots, stamps, values):
            column.byteswap()
    if count and (max(slots) >= len(sensors) or not all(map(math.isfinite, values))
                  or not -(2**62) < min(stamps) <= max(stamps) < 2**62):
        raise UnusableRecord("a reading of the binary record has no sensor, a non-finite value or a wild ts")
    readings = list(zip(map(sensors.__getitem__, slots), stamps, values, strict=True))
    return ReadingsRecord(org_id, readings, accepted_at if isinstance(accepted_at, int) else 0)


def partition_for(sensor_id: str, partitions: int) -> int:
    """The partition of a sensor's readings: stable, so one sensor's readings stay in order."""
    return zlib.crc32(sensor_id.encode()) % partitions


# ------------------------------------------------------------------ alerts

@dataclass(frozen=True)
class Rule:
    """An alert rule as evaluation needs it."""

    id: str
    org_id: str
    condition: str
    threshold: float | None
    threshold_high: float | None
    for_seconds: int
    severity: str
    sensor_id: str | None = None
    kind: str | None = None
    building_id: str | None = None

    def applies_to(self, sensor: SensorRef) -> bool:
        if self.sensor_id is not None:
            return self.sensor_id == sensor.id
        return ((self.kind is None or self.kind == sensor.kind)
                and (self.building_id is None or self.building_id == sensor.building_id))

    def holds(self, value: float) -> bool:
        """Whether a value meets the rule's condition."""
        t, high = self.threshold, self.threshold_high
        if self.condition == "above":
            return t is not None and value > t
        if self.condition == "below":
            return t is not None and value < t
        if self.condition == "outside_range":
            return t is not None and high is not None and (value < t or value > high)
        if self.condition == "equals":
            return t is not None and value == t
        return False


@dataclass
class EpisodeState:
    """Where a (rule, sensor) pair stands between batches."""

    last_ts: int | None = None  # epoch µs of the last reading evaluated
    pending_since: int | None = None  # when the condition began to hold (µs), if it holds now
    active_alert_id: str | None = None
    raised_at: int | None = None


@dataclass(frozen=True)
class Transition:
    """An episode starts (`raise`) or ends (`clear`) at `ts` because of `value`."""

    action: Literal["raise", "clear"]
    ts: int
    value: float
    raised_at: int


def evaluate(rule: Rule, state: EpisodeState, readings: Iterable[tuple[int, float]]) -> list[Transition]:
    """Advance a (rule, sensor) episode over readings in time order; returns raises and clears.

    Readings at or before `state.last_ts` were already evaluated (redelivery, late arrivals) and are
    skipped, so evaluating the same batch twice changes nothing. An episode raises once, after the
    condition has held for `for_seconds`, and clears at the first reading where it no longer holds.
    """
    out: list[Transition] = []
    hold_us = rule.for_seconds * US_PER_S
    for ts, value in readings:
        if state.last_ts is not None and ts <= state.last_ts:
            continue
        state.last_ts = ts
        if rule.holds(value):
            if state.pending_since is None:
                state.pending_since = ts
            if state.active_alert_id is None and ts - state.pending_since >= hold_us:
                state.active_alert_id = "pending"  # the caller assigns the id
                state.raised_at = state.pending_since
                out.append(Transition("raise", ts, value, state.pending_since))
        else:
            state.pending_since = None
            if state.active_alert_id is not None:
                out.append(Transition("clear", ts, value, ts if state.raised_at is None else state.raised_at))
                state.active_alert_id = None
                state.raised_at = None
    return out
