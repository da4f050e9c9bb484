from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hearth_contracts.common import Address
from hearth_contracts.envelope import parse_cloudevent, to_cloudevent_bytes
from hearth_contracts.property import BuildingCreated


def _building() -> BuildingCreated:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    return BuildingCreated(
        building_id="bld_1", org_id="org_1", name="Aurora Heights", type="residential",
        address=Address(line1="15 Innovation Drive", city="Berlin", country="DE"),
        timezone="Europe/Berlin", status="active", created_at=now, updated_at=now,
    )


def test_round_trip_keeps_attributes_and_data() -> None:
    raw = to_cloudevent_bytes(
        event_id="evt_1", source="hearth/property", data=_building(), subject="bld_1",
        org_id="org_1", sequence=3, traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01",
    )
    doc = json.loads(raw)
    assert doc["specversion"] == "1.0"
    assert doc["type"] == "hearth.building.created.v1"
    env = parse_cloudevent(raw)
    assert (env.id, env.subject, env.orgid, env.sequence) == ("evt_1", "bld_1", "org_1", 3)
    assert env.data_as(BuildingCreated).name == "Aurora Heights"


@pytest.mark.parametrize("raw", [b"not json", b"{}", b'{"specversion": "1.0", "id": "x"}'])
def test_malformed_envelopes_are_refused(raw: bytes) -> None:
    with pytest.raises(ValueError, match="CloudEvent"):
        parse_cloudevent(raw)
