"""Kafka subscriptions: property.events feeds the local projection of buildings and units."""

from __future__ import annotations

from hearth_contracts.property import (
    BuildingCreated,
    BuildingDeleted,
    BuildingSnapshot,
    BuildingStatusChanged,
    BuildingUpdated,
    UnitCreated,
    UnitDeleted,
    UnitSnapshot,
    UnitStatusChanged,
    UnitUpdated,
)
from hearth_contracts.topics import PROPERTY_EVENTS
from hearth_kit.subscriptions import Subscription, on
from hearth_kit.tx import Tx

from hearth_telemetry import repository as repo
from hearth_telemetry.config import Settings


async def project_building(tx: Tx, building: BuildingSnapshot) -> None:
    """A building exists (sensors may be registered in it)."""
    await repo.upsert_building(tx.conn, building_id=building.building_id, org_id=building.org_id, deleted=False)


async def forget_building(tx: Tx, building: BuildingDeleted) -> None:
    await repo.upsert_building(tx.conn, building_id=building.building_id, org_id=building.org_id, deleted=True)


async def project_unit(tx: Tx, unit: UnitSnapshot) -> None:
    """A unit exists, in this building (a sensor's unit must be in the sensor's building)."""
    await repo.upsert_unit(tx.conn, unit_id=unit.unit_id, org_id=unit.org_id, building_id=unit.building_id,
                           deleted=False)


async def forget_unit(tx: Tx, unit: UnitDeleted) -> None:
    await repo.upsert_unit(tx.conn, unit_id=unit.unit_id, org_id=unit.org_id, building_id=unit.building_id,
                           deleted=True)


def subscriptions(settings: Settings) -> list[Subscription]:
    """The property projection; its group is named after the schema, so each deployment (and each test
    schema) reads the whole topic into its own projection."""
    return [Subscription(
        topic=PROPERTY_EVENTS, group=f"{settings.db_schema}-property-projection", name="property-projection",
        handlers=[on(BuildingCreated, project_building), on(BuildingUpdated, project_building),
                  on(BuildingStatusChanged, project_building), on(BuildingDeleted, forget_building),
                  on(UnitCreated, project_unit), on(UnitUpdated, project_unit),
                  on(UnitStatusChanged, project_unit), on(UnitDeleted, forget_unit)],
    )]
