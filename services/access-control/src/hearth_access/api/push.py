"""The vendor's push: lock events arriving as they happen (the poller stays the safety net).

Called by the vendor (the simulator), not by a Hearth caller: it is authenticated by the vendor
account's signature (`hearth_access.vendor.push`), so it sits outside the gateway under /internal and
out of the public API document. Anything unsigned, badly signed, stale or for an unknown vendor gets
401; a signed body that is not seed-001 lock events gets 422.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request, Response
from hearth_kit.api import api_router
from hearth_kit.problems import problem_response

from hearth_access import repository as repo
from hearth_access.api.common import Hub
from hearth_access.service import polling
from hearth_access.vendor.driver import parse_lock_event
from hearth_access.vendor.push import SIGNATURE_HEADER, verify

# Hidden from the public API document (the vendor calls it directly, never through the gateway).
router = api_router(prefix="/internal/v1", tags=["vendor push"], include_in_schema=False)


@router.post("/lock-vendors/{vendor_id}/events", status_code=204)
async def receive_lock_events(vendor_id: str, request: Request, hub: Hub) -> Response:
    """Record pushed lock events once each (the same vendor event id as polling), announcing new facts."""
    body = await request.body()
    async with hub.db.system_transaction() as conn:  # who is calling is known only from the signature
        vendor = await repo.vendor(conn, vendor_id) if len(vendor_id) <= 64 else None
    secret = hub.sealer.open(vendor["permanent_token"], what="a vendor token") if vendor is not None else None
    if secret is None or not verify(secret, body, request.headers.get(SIGNATURE_HEADER)):
        return problem_response(request, status=401, detail="push not signed by this lock vendor",
                                slug="bad-signature", headers={"WWW-Authenticate": "Signature"})
    try:
        doc: Any = json.loads(body)
        rows = doc if isinstance(doc, list) else [doc]
        events = [parse_lock_event(r) for r in rows]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return problem_response(request, status=422, detail=f"not seed-001 lock events: {exc!r}"[:300],
                                slug="validation-error")
    await polling.apply_pushed(hub, vendor=vendor, events=events)
    return Response(status_code=204)
