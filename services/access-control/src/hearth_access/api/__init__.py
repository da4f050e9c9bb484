"""HTTP routes of the access-control service."""

from fastapi import APIRouter

from hearth_access.api import codes, locks, push, vendors

router = APIRouter()
router.include_router(vendors.router)
router.include_router(locks.router)
router.include_router(codes.router)
router.include_router(push.router)

__all__ = ["router"]
