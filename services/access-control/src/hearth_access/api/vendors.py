"""Lock vendor accounts and their listings."""

from __future__ import annotations

from typing import Annotated

from fastapi.responses import JSONResponse
from hearth_kit.api import api_router
from hearth_kit.calls import Call, Reader, Writer, single, with_roles
from hearth_kit.pagination import Pagination, page_response

from hearth_access.api.common import Hub, id_path, problems
from hearth_access.api.models import ListingMapIn, ListingOut, One, Page, VendorIn, VendorOut
from hearth_access.service import vendors as svc

router = api_router(prefix="/v1/lock-vendors", tags=["lock vendors"])
Manager = Annotated[Call, with_roles("admin", "manager")]


@router.post("", status_code=201, response_model=One[VendorOut], operation_id="createLockVendor",
             responses=problems(403, 409, 422))
async def create_vendor(body: VendorIn, call: Manager, hub: Hub) -> JSONResponse:
    """Connect a lock vendor account (permanent token stored encrypted) and import its locks."""
    view = await svc.register_vendor(hub, call.write, name=body.name, base_url=body.base_url,
                                     permanent_token=body.permanent_token)
    return single(view, status=201, headers={"Location": f"/v1/lock-vendors/{view['id']}"})


@router.get("", response_model=Page[VendorOut], operation_id="listLockVendors", responses=problems(422))
async def list_vendors(call: Reader, page: Pagination) -> JSONResponse:
    """The org's lock vendor accounts (never their tokens)."""
    items, total = await call.read(lambda tx: svc.list_vendors(tx, page=page))
    return page_response(items, total=total, params=page)


@router.get("/{vendor_id}", response_model=One[VendorOut], operation_id="getLockVendor", responses=problems(404))
async def get_vendor(call: Reader, vendor_id: str = id_path()) -> JSONResponse:
    """One vendor account with its health (degraded when the vendor is failing)."""
    return single(await call.read(lambda tx: svc.get_vendor(tx, vendor_id=vendor_id)))


@router.post("/{vendor_id}/import", response_model=One[VendorOut], operation_id="importLockVendor",
             responses=problems(403, 404))
async def import_vendor(call: Writer, hub: Hub, vendor_id: str = id_path()) -> JSONResponse:
    """Import listings and locks now (it also happens on a timer)."""
    return single(await svc.import_now(hub, call.write, org_id=call.principal.org_id, vendor_id=vendor_id))


@router.get("/{vendor_id}/listings", response_model=One[list[ListingOut]], operation_id="listVendorListings",
            responses=problems(404))
async def list_listings(call: Reader, vendor_id: str = id_path()) -> JSONResponse:
    """The vendor's listings (groups of locks) and the unit or building each stands for."""
    items = await call.read(lambda tx: svc.list_listings(tx, vendor_id=vendor_id))
    return JSONResponse({"data": items})


@router.put("/{vendor_id}/listings/{listing_id}", response_model=One[ListingOut], operation_id="mapVendorListing",
            responses=problems(403, 404, 422))
async def map_listing(body: ListingMapIn, call: Manager, hub: Hub, vendor_id: str = id_path(),
                      listing_id: str = id_path()) -> JSONResponse:
    """Map a listing to a unit (its doors) or to a building (common doors, `unit_id` null)."""
    return single(await svc.map_listing(hub, call.write, vendor_id=vendor_id, listing_id=listing_id,
                                        building_id=body.building_id, unit_id=body.unit_id))
