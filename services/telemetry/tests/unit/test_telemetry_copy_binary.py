"""The writer's hand-packed COPY payload and array literals (Postgres parses them in the integration tests)."""

from __future__ import annotations

import struct

from hearth_telemetry.copy_binary import HEADER, PG_EPOCH_OFFSET_US, TRAILER, encode_readings, number_array, text_array


def test_a_reading_is_four_fields_with_the_timestamp_counted_from_2000() -> None:
    payload = encode_readings([("sen_1", PG_EPOCH_OFFSET_US + 1_500_000, 21.5, "org_é")])
    assert payload.startswith(HEADER) and payload.endswith(TRAILER)
    row = payload[len(HEADER):-len(TRAILER)]
    (fields,) = struct.unpack_from(">h", row, 0)
    assert fields == 4
    pos = 2
    values = []
    for kind in ("text", "int8", "float8", "text"):
        (length,) = struct.unpack_from(">i", row, pos)
        raw = row[pos + 4:pos + 4 + length]
        pos += 4 + length
        values.append(raw.decode() if kind == "text" else struct.unpack(">q" if kind == "int8" else ">d", raw)[0])
    assert values == ["sen_1", 1_500_000, 21.5, "org_é"] and pos == len(row)


def test_array_literals_are_exact_and_quoted() -> None:
    assert number_array([1, 2.5, 1e-05, -3]) == "{1,2.5,1e-05,-3}"
    assert text_array(['a', 'b"c', "d\\e"]) == '{"a","b\\"c","d\\\\e"}'
    assert number_array([]) == "{}"
