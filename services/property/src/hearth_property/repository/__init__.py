"""All SQL of the property service, one module per aggregate."""

from hearth_property.repository.buildings import get_building, insert_building, list_buildings

__all__ = ["get_building", "insert_building", "list_buildings"]
