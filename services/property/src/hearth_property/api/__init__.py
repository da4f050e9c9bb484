"""HTTP routes of the property service: parse, call a use case, shape the response."""

from fastapi import APIRouter

from hearth_property.api import buildings, people, units

router = APIRouter()
router.include_router(buildings.router)
router.include_router(units.router)
router.include_router(people.router)

__all__ = ["router"]
