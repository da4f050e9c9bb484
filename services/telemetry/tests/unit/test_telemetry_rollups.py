"""The writer's fast path computes minute rollups and last values in Python: they must equal the SQL's."""

from __future__ import annotations

import random

from hearth_telemetry.domain import US_PER_MINUTE, MinuteRollup, latest_readings, minute_rollups


def _naive(by_sensor: dict[str, list[tuple[int, float]]]) -> dict[tuple[str, int], MinuteRollup]:
    """GROUP BY sensor, date_bin('1 minute', ts): count, sum, min, max, value at max(ts)."""
    groups: dict[tuple[str, int], list[tuple[int, float]]] = {}
    for sensor_id, points in by_sensor.items():
        for ts, value in points:
            groups.setdefault((sensor_id, ts // US_PER_MINUTE * US_PER_MINUTE), []).append((ts, value))
    return {key: MinuteRollup(len(pts), sum(v for _, v in pts), min(v for _, v in pts), max(v for _, v in pts),
                              max(pts)[0], max(pts)[1]) for key, pts in groups.items()}


def test_minute_rollups_equal_group_by_in_any_order() -> None:
    rng = random.Random(3)
    base = 1_764_600_000_000_000
    by_sensor = {f"sen_{s}": [(base + rng.randrange(0, 10 * US_PER_MINUTE), rng.uniform(-20, 40))
                              for _ in range(300)] for s in range(5)}
    for points in by_sensor.values():  # distinct timestamps per sensor, shuffled (a batch is unordered)
        unique = dict(points)
        points[:] = list(unique.items())
        rng.shuffle(points)
    got = minute_rollups(by_sensor)
    expected = _naive(by_sensor)
    assert got.keys() == expected.keys()
    for key, want in expected.items():
        have = got[key]
        assert (have.n, have.min_value, have.max_value, have.last_ts, have.last_value) == (
            want.n, want.min_value, want.max_value, want.last_ts, want.last_value)
        assert abs(have.total - want.total) <= 1e-9 * max(1.0, abs(want.total))
    assert {k[1] % US_PER_MINUTE for k in got} == {0}


def test_latest_reading_is_the_greatest_timestamp_not_the_last_one_seen() -> None:
    assert latest_readings({"sen_a": [(30, 1.0), (10, 2.0), (20, 3.0)], "sen_b": [(5, 7.0)]}) == {
        "sen_a": (30, 1.0), "sen_b": (5, 7.0)}
