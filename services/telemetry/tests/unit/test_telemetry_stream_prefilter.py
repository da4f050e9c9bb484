"""The stream hub skips records that carry none of its sensor subscribers' sensors, without decoding them."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
import pytest
from hearth_telemetry import stream
from hearth_telemetry.domain import ReadingsRecord, decode_record
from hearth_telemetry.sensor_cache import SensorCache
from hearth_telemetry.stream import StreamHub, Subscriber

ORG = "org_01jprefilter"


@dataclass
class FakeRecord:
    key: bytes
    value: bytes


def json_record(sensor_id: str, *, escaped: bool = False) -> FakeRecord:
    body = orjson.dumps({"org_id": ORG, "readings": [[sensor_id, 1_700_000_000_000_000, 21.5]]})
    if escaped:  # a producer spelling the first letter of the id as a JSON escape
        body = body.replace(sensor_id.encode(), b"\\u00" + f"{ord(sensor_id[0]):02x}".encode() + sensor_id[1:].encode())
    return FakeRecord(ORG.encode(), body)


async def test_records_without_a_watched_sensor_are_not_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: list[bytes] = []

    def counting_decode(raw: bytes) -> ReadingsRecord:
        decoded.append(raw)
        return decode_record(raw)

    monkeypatch.setattr(stream, "decode_record", counting_decode)
    hub = StreamHub("unused:9092", SensorCache(), queue_max=10)
    sub = Subscriber(org_id=ORG, sensor_id="sen_watched")
    hub._subs[ORG].add(sub)

    await hub._dispatch(json_record("sen_other"))
    assert decoded == [] and sub.queue.empty()

    await hub._dispatch(json_record("sen_watched"))
    assert len(decoded) == 1 and sub.queue.qsize() == 1

    await hub._dispatch(json_record("sen_watched", escaped=True))  # cannot be ruled out by bytes: decoded
    assert len(decoded) == 2 and sub.queue.qsize() == 2

    hub._subs[ORG].add(Subscriber(org_id=ORG, kind="temperature"))  # a filter the bytes cannot answer
    await hub._dispatch(json_record("sen_other"))
    assert len(decoded) == 3
