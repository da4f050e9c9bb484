"""Lock vendor accounts and their listings."""

from __future__ import annotations

from typing import Any

from hearth_kit.api import api_router
from hearth_kit.auth import CurrentPrincipal
from hearth_kit.pagination import Pagination, page_body

from hearth_access.api.common import Hub, id_path, problems
from hearth_access.api.models import ListingMapIn, ListingOut, One, Page, VendorIn, VendorOut
from hearth_access.service import vendors as svc

router = api_router(prefix="/v1/lock-vendors", tags=["lock vendors"])



@router.post("", status_code=201, response_model=One[VendorOut], operation_id="createLockVendor",
             responses=problems(403, 409, 422))
async def create_vendor(body: VendorIn, principal: CurrentPrincipal, hub: Hub) -> dict[str, Any]:
    """Connect a lock vendor account (permanent token stored encrypted) and import its locks."""
    return {"data": await svc.register_vendor(hub, principal=principal, name=body.name, base_url=body.base_url,
                                              permanent_token=body.permanent_token)}


@router.get("", response_model=Page[VendorOut], operation_id="listLockVendors", responses=problems(422))
async def list_vendors(principal: CurrentPrincipal, hub: Hub, page: Pagination) -> dict[str, Any]:
    """The org's lock vendor accounts (never their tokens)."""
    items, total = await svc.list_vendors(hub.db, principal=principal, page=page)
    return page_body(items, total=total, params=page)


@router.get("/{vendor_id}", response_model=One[VendorOut], operation_id="getLockVendor", responses=problems(404))
async def get_vendor(principal: CurrentPrincipal, hub: Hub, vendor_id: str = id_path()) -> dict[str, Any]:
    """One vendor account with its health (degraded when the vendor is failing)."""
    return {"data": await svc.get_vendor(hub.db, principal=principal, vendor_id=vendor_id)}


@router.post("/{vendor_id}/import", response_model=One[VendorOut], operation_id="importLockVendor",
             responses=problems(403, 404))
async def import_vendor(principal: CurrentPrincipal, hub: Hub, vendor_id: str = id_path()) -> dict[str, Any]:
    """Import listings and locks now (it also happens on a timer)."""
    return {"data": await svc.import_now(hub, principal=principal, vendor_id=vendor_id)}


@router.get("/{vendor_id}/listings", response_model=One[list[ListingOut]], operation_id="listVendorListings",
            responses=problems(404))
async def list_listings(principal: CurrentPrincipal, hub: Hub, vendor_id: str = id_path()) -> dict[str, Any]:
    """The vendor's listings (groups of locks) and the unit or building each stands for."""
    return {"data": await svc.list_listings(hub.db, principal=principal, vendor_id=vendor_id)}


@router.put("/{vendor_id}/listings/{listing_id}", response_model=One[ListingOut], operation_id="mapVendorListing",
            responses=problems(403, 404, 422))
async def map_listing(body: ListingMapIn, principal: CurrentPrincipal, hub: Hub, vendor_id: str = id_path(),
                      listing_id: str = id_path()) -> dict[str, Any]:
    """Map a listing to a unit (its doors) or to a building (common doors, `unit_id` null)."""
    return {"data": await svc.map_listing(hub, principal=principal, vendor_id=vendor_id, listing_id=listing_id,
                                          building_id=body.building_id, unit_id=body.unit_id)}
