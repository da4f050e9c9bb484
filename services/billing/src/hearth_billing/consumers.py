"""Billing's subscription: lease accounts and building time zones from property.events."""

from __future__ import annotations

from hearth_contracts.property import (
    BuildingCreated,
    BuildingStatusChanged,
    BuildingUpdated,
    LeaseActivated,
    LeaseCreated,
    LeaseEnded,
    LeaseTerminated,
)
from hearth_contracts.topics import PROPERTY_EVENTS
from hearth_kit.subscriptions import Subscription, on

from hearth_billing.service.postings import on_building, on_lease

# Every lease event carries the whole lease (event-carried state), so one handler keeps the account.
LEASES = Subscription(
    topic=PROPERTY_EVENTS, group="billing-leases", name="lease-accounts",
    handlers=[on(LeaseCreated, on_lease), on(LeaseActivated, on_lease), on(LeaseTerminated, on_lease),
              on(LeaseEnded, on_lease), on(BuildingCreated, on_building), on(BuildingUpdated, on_building),
              on(BuildingStatusChanged, on_building)],
)
SUBSCRIPTIONS = [LEASES]
