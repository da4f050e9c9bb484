"""Pure telemetry rules: reading validation, the Kafka record format, alert episodes."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hearth_telemetry.domain import (
    EpisodeState,
    ReadingsRecord,
    Rule,
    SensorRef,
    UnusableRecord,
    decode_record,
    evaluate,
    parse_ts,
    partition_for,
    validate_batch,
)

NOW = 1_800_000_000_000_000  # µs
S = 1_000_000
TEMP = SensorRef("sen_t", "org_a", "temperature", "bld_1", None)
LEAK = SensorRef("sen_l", "org_a", "water_leak", "bld_1", None)
RETIRED = SensorRef("sen_r", "org_a", "co2", "bld_1", None, active=False)
BY_ID = {s.id: s for s in (TEMP, LEAK, RETIRED)}


def check(item: Any) -> tuple[list[Any], list[str]]:
    verdict = validate_batch([item], by_id=BY_ID.get, by_external={"ext-1": TEMP}.get, now_us=NOW,
                             oldest_us=NOW - 30 * 86400 * S, max_future_us=300 * S)
    return verdict.accepted, [e["reason"] for e in verdict.errors]


@pytest.mark.parametrize(("item", "reason"), [
    ({"sensor_id": "sen_t", "ts": "2027-01-15T08:00:00Z", "value": 21.5}, None),
    ({"external_id": "ext-1", "ts": "2027-01-15T08:00:00+01:00", "value": 0}, None),
    ({"sensor_id": "sen_l", "ts": NOW // 1000, "value": True}, None),
    ({"sensor_id": "sen_x", "ts": "2027-01-15T08:00:00Z", "value": 1}, "unknown sensor"),
    ({"sensor_id": "sen_r", "ts": "2027-01-15T08:00:00Z", "value": 1}, "sensor is retired"),
    ({"sensor_id": "sen_t", "ts": "2027-01-15T08:00:00", "value": 1}, "ts must be"),
    ({"sensor_id": "sen_t", "ts": "soon", "value": 1}, "ts must be"),
    ({"sensor_id": "sen_t", "ts": "2099-01-01T00:00:00Z", "value": 1}, "future"),
    ({"sensor_id": "sen_t", "ts": "2020-01-01T00:00:00Z", "value": 1}, "retention"),
    ({"sensor_id": "sen_t", "ts": "2027-01-15T08:00:00Z", "value": 1e6}, "out of range"),
    ({"sensor_id": "sen_t", "ts": "2027-01-15T08:00:00Z", "value": "1"}, "finite number"),
    ({"sensor_id": "sen_l", "ts": "2027-01-15T08:00:00Z", "value": 0.5}, "out of range"),
    ({"sensor_id": 5, "ts": "2027-01-15T08:00:00Z", "value": 1}, "required"),
    ({"ts": "2027-01-15T08:00:00Z", "value": 1}, "required"),
    ([1, 2], "not an object"),
])
def test_validate_item(item: Any, reason: str | None) -> None:
    accepted, errors = check(item)
    if reason is None:
        assert len(accepted) == 1 and errors == []
    else:
        assert accepted == [] and len(errors) == 1 and reason in errors[0]


def test_parse_ts_is_exact_to_the_microsecond() -> None:
    assert parse_ts("1970-01-01T00:00:01.000001Z") == 1_000_001
    assert parse_ts("1970-01-01T01:00:00+01:00") == 0
    assert parse_ts(1500) == 1_500_000
    assert parse_ts(float("nan")) is None and parse_ts(True) is None and parse_ts("9" * 50) is None


@pytest.mark.parametrize("raw", [
    b"", b"nope", b"[]", orjson.dumps({"org_id": "x", "readings": []}),
    orjson.dumps({"org_id": "org_a", "readings": [["sen", "ts", 1]]}),
    orjson.dumps({"org_id": "org_a", "readings": [["sen", 1]]}),
    orjson.dumps({"org_id": "org_a", "readings": [["sen", 1, True]]}),
    orjson.dumps({"org_id": "org_a"}),
])
def test_unusable_records_are_refused_with_a_reason(raw: bytes) -> None:
    with pytest.raises(UnusableRecord):
        decode_record(raw)


def test_record_round_trip_and_stable_partitions() -> None:
    rec = ReadingsRecord("org_a", [("sen_t", NOW, 1.5)], NOW)
    assert decode_record(rec.encode()) == rec
    assert partition_for("sen_t", 12) == partition_for("sen_t", 12) < 12


def rule(condition: str, threshold: float | None = 30, high: float | None = None, for_seconds: int = 0) -> Rule:
    return Rule("rul_1", "org_a", condition, threshold, high, for_seconds, "warning")


@pytest.mark.parametrize(("r", "value", "holds"), [
    (rule("above"), 31, True), (rule("above"), 30, False), (rule("below"), 29, True),
    (rule("outside_range", 10, 20), 9, True), (rule("outside_range", 10, 20), 15, False),
    (rule("equals", 1), 1, True), (rule("equals", 1), 0, False),
])
def test_rule_conditions(r: Rule, value: float, holds: bool) -> None:
    assert r.holds(value) is holds


def test_episode_raises_after_for_seconds_once_and_clears() -> None:
    r = rule("above", for_seconds=60)
    state = EpisodeState()
    readings = [(0, 31.0), (30 * S, 32.0), (70 * S, 33.0), (100 * S, 34.0), (130 * S, 20.0), (160 * S, 31.0)]
    changes = evaluate(r, state, readings)
    assert [(c.action, c.ts, c.raised_at) for c in changes] == [("raise", 70 * S, 0), ("clear", 130 * S, 0)]
    assert evaluate(r, state, readings) == []  # the same readings again: nothing new
    assert state.pending_since == 160 * S and state.active_alert_id is None


def test_episode_short_blip_does_not_raise() -> None:
    r = rule("above", for_seconds=60)
    assert evaluate(r, EpisodeState(), [(0, 31.0), (30 * S, 20.0), (50 * S, 31.0), (100 * S, 31.0)]) == []


def test_rule_targets() -> None:
    by_kind = Rule("r", "org_a", "equals", 1, None, 0, "critical", kind="water_leak")
    assert by_kind.applies_to(LEAK) and not by_kind.applies_to(TEMP)
    in_building = Rule("r", "org_a", "above", 1, None, 0, "info", kind="temperature", building_id="bld_2")
    assert not in_building.applies_to(TEMP)
    one = Rule("r", "org_a", "above", 1, None, 0, "info", sensor_id="sen_t")
    assert one.applies_to(TEMP) and not one.applies_to(LEAK)
