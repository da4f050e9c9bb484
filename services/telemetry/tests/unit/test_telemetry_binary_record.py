"""The binary readings record the ingest API produces: round trip, and every malformed form refused."""

from __future__ import annotations

import struct

import pytest
from hearth_telemetry.domain import ReadingsRecord, UnusableRecord, decode_record

NOW = 1_764_600_000_000_000
RECORD = ReadingsRecord("org_a", [("sen_a", NOW, 1.5), ("sen_b", NOW + 1, -2.0), ("sen_a", NOW + 2, 3.0)], NOW)


def test_binary_round_trip_equals_the_json_form() -> None:
    raw = RECORD.encode_binary()
    assert decode_record(raw) == RECORD == decode_record(RECORD.encode())
    assert len(raw) < len(RECORD.encode())  # 20 bytes a reading plus the sensor list once


def test_an_empty_binary_record_decodes_to_no_readings() -> None:
    assert decode_record(ReadingsRecord("org_a", [], 0).encode_binary()).readings == []


def _patched(raw: bytes, at: int, value: bytes) -> bytes:
    return raw[:at] + value + raw[at + len(value):]


def _header_len(raw: bytes) -> int:
    return int(struct.unpack_from("<4sII", raw)[1])


@pytest.mark.parametrize("mangle", [
    lambda raw: raw[:-1],                                       # truncated column
    lambda raw: raw + b"\0",                                    # trailing bytes
    lambda raw: raw[:6],                                        # shorter than its head
    lambda raw: _patched(raw, 8, struct.pack("<I", 10**6)),     # count beyond the limit
    lambda raw: _patched(raw, 12, b"X"),                        # header not JSON
    lambda raw: _patched(raw, 12 + _header_len(raw), struct.pack("<I", 7)),        # sensor index out of range
    lambda raw: raw[:-8] + struct.pack("<d", float("nan")),    # non-finite value
    lambda raw: _patched(raw, 12 + _header_len(raw) + 12, struct.pack("<q", 2**63 - 1)),  # wild ts
])
def test_malformed_binary_records_are_unusable(mangle) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UnusableRecord):
        decode_record(mangle(RECORD.encode_binary()))


def test_binary_header_with_a_bad_org_is_unusable() -> None:
    with pytest.raises(UnusableRecord, match="org_id"):
        decode_record(ReadingsRecord("nope", [("sen_a", NOW, 1.0)]).encode_binary())
