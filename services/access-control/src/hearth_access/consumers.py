"""Kafka subscriptions: the command bridge, the property projection + lease codes, maintenance visits."""

from __future__ import annotations

from hearth_contracts.access import LockDoor, UnlockDoor
from hearth_contracts.topics import ACCESS_COMMANDS, MAINTENANCE_EVENTS, PROPERTY_EVENTS
from hearth_kit.subscriptions import Subscription, on
from hearth_kit.tx import Tx

from hearth_access.service import commands, projection
from hearth_access.service.automations import Automations
from hearth_access.service.vendors import VendorHub


def subscriptions(hub: VendorHub) -> list[Subscription]:
    """access-bridge (commands), access-property (projection, lease codes), access-maintenance (visits)."""
    automations = Automations(hub.settings, hub.wake_sync)
    maintenance, leases = automations.handlers()

    async def bridge(tx: Tx, command: LockDoor | UnlockDoor) -> None:
        # the claim commits on its own before the vendor call (see commands.execute); the inbox row
        # committed with this transaction only spares a redelivery the claim check
        await commands.execute_command(hub, command)

    return [
        Subscription(topic=ACCESS_COMMANDS, group="access-bridge",
                     handlers=[on(LockDoor, bridge), on(UnlockDoor, bridge)]),
        Subscription(topic=PROPERTY_EVENTS, group="access-property", handlers=[*projection.HANDLERS, *leases]),
        Subscription(topic=MAINTENANCE_EVENTS, group="access-maintenance", handlers=maintenance),
    ]
