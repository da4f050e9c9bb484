"""Kafka subscriptions of the maintenance service: each event type to its intake handler (inbox + dead letters)."""

from __future__ import annotations

from hearth_contracts.access import AccessCodeUsed, LockBatteryLow, LockJammed, LockOffline, LockTampered
from hearth_contracts.auth import MemberCreated, MemberDeleted, MemberUpdated
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
from hearth_contracts.telemetry import AlertCleared, AlertRaised
from hearth_contracts.topics import ACCESS_EVENTS, AUTH_EVENTS, PROPERTY_EVENTS, TELEMETRY_ALERTS
from hearth_kit.subscriptions import Subscription, on

from hearth_maintenance import intake

ALERTS = Subscription(topic=TELEMETRY_ALERTS, group="maintenance-alerts", handlers=[
    on(AlertRaised, intake.on_alert_raised), on(AlertCleared, intake.on_alert_cleared)])
ACCESS = Subscription(topic=ACCESS_EVENTS, group="maintenance-access", handlers=[
    on(LockJammed, intake.on_lock_fact), on(LockTampered, intake.on_lock_fact),
    on(LockBatteryLow, intake.on_lock_fact), on(LockOffline, intake.on_lock_fact),
    on(AccessCodeUsed, intake.on_code_used)])
PROPERTY = Subscription(topic=PROPERTY_EVENTS, group="maintenance-property-projection", handlers=[
    on(BuildingCreated, intake.on_building), on(BuildingUpdated, intake.on_building),
    on(BuildingStatusChanged, intake.on_building), on(BuildingDeleted, intake.on_building_deleted),
    on(UnitCreated, intake.on_unit), on(UnitUpdated, intake.on_unit), on(UnitStatusChanged, intake.on_unit),
    on(UnitDeleted, intake.on_unit_deleted)])
MEMBERS = Subscription(topic=AUTH_EVENTS, group="maintenance-members-projection", handlers=[
    on(MemberCreated, intake.on_member), on(MemberUpdated, intake.on_member),
    on(MemberDeleted, intake.on_member_deleted)])

SUBSCRIPTIONS = [ALERTS, ACCESS, PROPERTY, MEMBERS]
