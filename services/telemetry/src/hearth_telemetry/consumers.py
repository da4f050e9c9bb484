"""Kafka subscriptions: property.events feeds the local projection of buildings and units."""

from __future__ import annotations

import asyncpg
from faststream.kafka import KafkaBroker
from hearth_contracts.envelope import Envelope
from hearth_contracts.property import (
    BuildingCreated,
    BuildingDeleted,
    BuildingStatusChanged,
    BuildingUpdated,
    UnitCreated,
    UnitDeleted,
    UnitStatusChanged,
    UnitUpdated,
)
from hearth_contracts.topics import PROPERTY_EVENTS
from hearth_kit.messaging import CONSUMER_ACK_POLICY, idempotent_consumer
from hearth_kit.runtime import Runtime

from hearth_telemetry import repository as repo

_BUILDING = {BuildingCreated.event_type, BuildingUpdated.event_type, BuildingStatusChanged.event_type}
_UNIT = {UnitCreated.event_type, UnitUpdated.event_type, UnitStatusChanged.event_type}
TYPES = frozenset(_BUILDING | _UNIT | {BuildingDeleted.event_type, UnitDeleted.event_type})


async def project_property(conn: asyncpg.Connection, event: Envelope) -> None:
    """Keep which buildings and units exist (and a unit's building) for sensor registration."""
    data = event.data
    if event.type in _BUILDING or event.type == BuildingDeleted.event_type:
        await repo.upsert_building(conn, building_id=data["building_id"], org_id=data["org_id"],
                                   deleted=event.type == BuildingDeleted.event_type)
    elif event.type in _UNIT or event.type == UnitDeleted.event_type:
        await repo.upsert_unit(conn, unit_id=data["unit_id"], org_id=data["org_id"],
                               building_id=data["building_id"], deleted=event.type == UnitDeleted.event_type)


def wire(broker: KafkaBroker, runtime: Runtime) -> None:
    """Subscribe the property projection (group <schema>-property-projection)."""
    broker.subscriber(PROPERTY_EVENTS.name, group_id=f"{runtime.settings.db_schema}-property-projection",
                      ack_policy=CONSUMER_ACK_POLICY, auto_offset_reset="earliest")(
        idempotent_consumer(db=runtime.db, consumer="property-projection", handle=project_property, types=TYPES,
                            dead_letters=runtime.dead_letters))
