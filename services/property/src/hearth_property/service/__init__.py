"""Property use cases: each is one transaction that writes its rows and its outbox events together."""

from hearth_kit import outbox

from hearth_property.service.buildings import (
    SOURCE,
    create_building,
    delete_building,
    get_building,
    list_buildings,
    update_building,
)

__all__ = ["SOURCE", "create_building", "delete_building", "get_building", "list_buildings", "outbox",
           "update_building"]
