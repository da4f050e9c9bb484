"""HTTP face of the lock vendor simulator: seed 001's API, exactly, plus a `/_sim` control API for tests.

Vendor API (as the seed documents it): POST /v1/authentication/, GET /v1/listlocks/, PUT /v1/lock/<id>,
PUT /v1/unlock/<id>, GET /v1/lockstatus/?lock-id=, GET /v1/lockevents?lock-id=, GET/POST /v1/codes,
PUT/DELETE /v1/codes/<id>, GET /v1/listings; the seed's status codes (401, 404, 409, 411, 412, 413, 414,
429, 5xx). Control API: accounts with locks and listings, fault injection (the next calls answer a status,
garbage or hang), latency, jam/offline/battery, token lifetime, a keypad, call counters, and push: an
account's `push_url` receives each new lock event as it happens (seed-001 shape, in a JSON list), signed
with the account's permanent token (`hearth_access.vendor.push`).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from hearth_access.simulator.state import WEEKDAYS, Account, SimCode, SimListing, SimLock
from hearth_access.vendor.push import SIGNATURE_HEADER, sign

_CODE_FIELDS = ("unlock-notifications", "manual", "daterangestart", "daterangeend", "hoursperdaystart",
                "hoursperdayend", "daysofeachweek")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status)


def create_app() -> FastAPI:
    """A fresh simulator (its state lives in the app)."""
    app = FastAPI(title="Lock vendor simulator", openapi_url=None, docs_url=None, redoc_url=None)
    accounts: dict[str, Account] = {}
    app.state.accounts = accounts
    pushes: set[asyncio.Task[None]] = set()

    async def push(url: str, secret: str, event: dict[str, Any]) -> None:
        body = json.dumps([event]).encode()
        headers = {"content-type": "application/json", SIGNATURE_HEADER: sign(secret, body)}
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                await client.post(url, content=body, headers=headers)
        except httpx.HTTPError:
            pass  # best effort, like a real webhook: polling is the safety net

    def on_event(account: Account, event: dict[str, Any]) -> None:
        if account.push_url:
            task = asyncio.get_running_loop().create_task(push(account.push_url, account.permanent_token, event))
            pushes.add(task)
            task.add_done_callback(pushes.discard)

    def by_permanent(token: str | None) -> Account | None:
        return next((a for a in accounts.values() if token and a.permanent_token == token), None)

    def by_temporary(token: str | None) -> tuple[Account | None, bool]:
        """(account, expired) for a temporary token."""
        for account in accounts.values():
            if token and token in account.tokens:
                return account, account.tokens[token] <= time.time()
        return None, False

    async def gate(account: Account, call: str) -> Response | None:
        """Latency, rate limit and injected faults, in that order, for every vendor call."""
        account.calls[call] = account.calls.get(call, 0) + 1
        if account.latency_ms:
            await asyncio.sleep(account.latency_ms / 1000)
        now = time.monotonic()
        account.window = [t for t in account.window if now - t < 1.0]
        if len(account.window) >= account.rate_per_second:
            return JSONResponse({"message": "Too Many Requests"}, status_code=429, headers={"Retry-After": "1"})
        account.window.append(now)
        for i, fault in enumerate(account.faults):
            if fault.get("match") and fault["match"] not in call:
                continue
            fault["count"] -= 1
            if fault["count"] <= 0:
                account.faults.pop(i)
            if fault.get("hang_ms"):
                await asyncio.sleep(fault["hang_ms"] / 1000)
                return None
            if fault.get("garbage"):
                return Response(b"<html>upstream exploded", status_code=200, media_type="application/json")
            headers = {"Retry-After": str(fault["retry_after"])} if fault.get("retry_after") is not None else None
            return JSONResponse({"message": "injected"}, status_code=int(fault["status"]), headers=headers)
        return None

    async def authed(request: Request, call: str) -> tuple[Account | None, Response | None]:
        account, expired = by_temporary(request.headers.get("x-temporary-token"))
        if account is None:
            return None, _error(401, "Not Authorized")
        if expired:
            return None, _error(412, "Token Expired")
        return account, await gate(account, call)

    # --- vendor API ------------------------------------------------------------------------------

    @app.post("/v1/authentication")
    @app.post("/v1/authentication/")
    async def authenticate(request: Request) -> Response:
        account = by_permanent(request.headers.get("x-permanent-token"))
        if account is None:
            return _error(401, "Not Authorized")
        if (fault := await gate(account, "POST authentication")) is not None:
            return fault
        minted = account.mint_token(time.time())
        if minted is None:
            return _error(411, "Too Many Tokens")
        token, expires = minted
        return JSONResponse({"temporary-token": token, "expiration-epoch": expires})

    @app.get("/v1/listlocks")
    @app.get("/v1/listlocks/")
    async def list_locks(request: Request) -> Response:
        account, stop = await authed(request, "GET listlocks")
        if stop or account is None:
            return stop or _error(401, "Not Authorized")
        return JSONResponse([{"lock-id": lk.lock_id, "lock-name": lk.name, "smartthings-name": lk.model}
                             for lk in account.locks.values()])

    async def operate(request: Request, lock_id: str, action: str) -> Response:
        verb = "lock" if action == "locked" else "unlock"
        account, stop = await authed(request, f"PUT {verb} {lock_id}")
        if stop or account is None:
            return stop or _error(401, "Not Authorized")
        lock = account.locks.get(lock_id)
        if lock is None:
            return _error(404, "Not Found")
        if not lock.online:
            return _error(504, "Endpoint Request Timed-out")
        if lock.jammed:
            account.add_event(lock, "jammed")
            return _error(409, "lock jammed")
        account.operate(lock, action)
        return Response(status_code=200)

    @app.put("/v1/lock/{lock_id}")
    async def lock(request: Request, lock_id: str) -> Response:
        return await operate(request, lock_id, "locked")

    @app.put("/v1/unlock/{lock_id}")
    async def unlock(request: Request, lock_id: str) -> Response:
        return await operate(request, lock_id, "unlocked")

    @app.get("/v1/lockstatus")
    @app.get("/v1/lockstatus/")
    async def lock_status(request: Request) -> Response:
        account, stop = await authed(request, "GET lockstatus")
        if stop or account is None:
            return stop or _error(401, "Not Authorized")
        wanted = request.query_params.get("lock-id")
        if not wanted:
            return _error(413, "Missing Parameter: lock-id")
        if wanted != "all" and wanted not in account.locks:
            return _error(404, "Not Found")
        now = time.time()
        return JSONResponse([{"lock-id": lk.lock_id, "lock-name": lk.name,
                              "state": "unknown" if lk.jammed else lk.state, "battery": round(lk.battery),
                              "last-update": account.minutes_since_seen(lk, now)}
                             for lk in account.locks.values() if wanted in ("all", lk.lock_id)])

    @app.get("/v1/lockevents")
    @app.get("/v1/lockevents/")
    async def lock_events(request: Request) -> Response:
        account, stop = await authed(request, "GET lockevents")
        if stop or account is None:
            return stop or _error(401, "Not Authorized")
        wanted = request.query_params.get("lock-id")
        if not wanted:
            return _error(413, "Missing Parameter: lock-id")
        return JSONResponse([e for e in reversed(account.events) if wanted in ("all", e["lock-id"])])

    @app.get("/v1/codes")
    @app.get("/v1/codes/")
    async def list_codes(request: Request) -> Response:
        account, stop = await authed(request, "GET codes")
        if stop or account is None:
            return stop or _error(401, "Not Authorized")
        account.purge_removed()
        now = time.time()
        holders = account.slot_holders()
        return JSONResponse([account.code_doc(c, now, holders) for c in account.codes.values()])

    async def body_of(request: Request) -> dict[str, Any] | None:
        try:
            doc = json.loads(await request.body() or b"{}")
        except ValueError:
            return None
        return doc if isinstance(doc, dict) else None

    def schedule_problem(doc: dict[str, Any]) -> str | None:
        if doc.get("manual") is not None and any(doc.get(k) is not None for k in _CODE_FIELDS[2:]):
            return "manual cannot be combined with a schedule"
        if doc.get("manual") not in (None, "activated", "deactivated"):
            return "manual must be activated or deactivated"
        for key in ("hoursperdaystart", "hoursperdayend"):
            if doc.get(key) is not None and not (isinstance(doc[key], int) and 1 <= doc[key] <= 24):
                return f"{key} must be 1..24"
        days = doc.get("daysofeachweek")
        if days is not None and (not isinstance(days, list) or any(d not in WEEKDAYS for d in days)):
            return "daysofeachweek holds weekday names"
        return None

    @app.post("/v1/codes")
    @app.post("/v1/codes/")
    async def create_code(request: Request) -> Response:
        account, stop = await authed(request, "POST codes")
        if stop or account is None:
            return stop or _error(401, "Not Authorized")
        doc = await body_of(request)
        if doc is None:
            return _error(414, "Invalid Request")
        missing = [k for k in ("code-name", "listing-id", "code") if doc.get(k) is None]
        if missing:
            return _error(413, f"Missing Parameter: {', '.join(missing)}")
        listing = account.listings.get(str(doc["listing-id"]))
        if listing is None:
            return _error(404, "Not Found")
        if not isinstance(doc["code"], int) or isinstance(doc["code"], bool):
            return _error(414, "Invalid Request: code must be a number")
        code = str(doc["code"])  # a number: leading zeros are gone, as with the real vendor
        if len(code) != listing.code_length:
            return _error(414, f"Invalid Request: code must have {listing.code_length} digits")
        if (problem := schedule_problem(doc)) is not None:
            return _error(414, f"Invalid Request: {problem}")
        if any(c.code == code and c.listing_id == listing.listing_id and not c.deleted
               for c in account.codes.values()):
            return _error(409, "Conflict: code already exists on listing")
        account.seq += 1
        created = SimCode(code_id=str(uuid.uuid4()), name=str(doc["code-name"]), listing_id=listing.listing_id,
                          code=code, created_seq=account.seq)
        _apply(created, doc)
        account.codes[created.code_id] = created
        return JSONResponse({"code-id": created.code_id})

    @app.put("/v1/codes/{code_id}")
    async def update_code(request: Request, code_id: str) -> Response:
        account, stop = await authed(request, f"PUT codes {code_id}")
        if stop or account is None:
            return stop or _error(401, "Not Authorized")
        code = account.codes.get(code_id)
        if code is None or code.deleted:
            return _error(404, "Not Found")
        doc = await body_of(request)
        if doc is None:
            return _error(414, "Invalid Request")
        if (problem := schedule_problem(doc)) is not None:
            return _error(414, f"Invalid Request: {problem}")
        if doc.get("manual") is not None:  # manual replaces a schedule, a schedule replaces manual
            code.daterangestart = code.daterangeend = None
            code.hoursperdaystart = code.hoursperdayend = None
            code.daysofeachweek = None
        elif any(doc.get(k) is not None for k in _CODE_FIELDS[2:]):
            code.manual = None
        _apply(code, doc)
        return Response(status_code=200)

    @app.delete("/v1/codes/{code_id}")
    async def delete_code(request: Request, code_id: str) -> Response:
        account, stop = await authed(request, f"DELETE codes {code_id}")
        if stop or account is None:
            return stop or _error(401, "Not Authorized")
        code = account.codes.get(code_id)
        if code is None:
            return _error(404, "Not Found")
        code.deleted = True
        account.purge_removed()
        return Response(status_code=200)

    @app.get("/v1/listings")
    @app.get("/v1/listings/")
    async def listings(request: Request) -> Response:
        account, stop = await authed(request, "GET listings")
        if stop or account is None:
            return stop or _error(401, "Not Authorized")
        return JSONResponse([{"listing-id": li.listing_id, "listing-name": li.name, "code-length": li.code_length,
                              "timezone": li.timezone, "linked-locks": li.linked_locks}
                             for li in account.listings.values()])

    # --- control API (not part of the vendor's API) ----------------------------------------------

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.put("/_sim/accounts/{account_id}")
    async def put_account(request: Request, account_id: str) -> Response:
        """Create or reshape an account (idempotent): permanent_token, settings, locks, listings."""
        doc = await body_of(request) or {}
        account = accounts.get(account_id)
        if account is None:
            token = str(doc.get("permanent_token") or uuid.uuid4().hex + uuid.uuid4().hex)
            account = accounts[account_id] = Account(account_id=account_id, permanent_token=token, on_event=on_event)
        if "push_url" in doc:  # where to POST lock events as they happen (null: stop pushing)
            account.push_url = doc["push_url"] or None
        for key in ("token_ttl_seconds", "max_tokens", "latency_ms", "battery_drain_pct", "offline_minutes",
                    "rate_per_second"):
            if key in doc:
                setattr(account, key, doc[key])
        for spec in doc.get("locks", []):
            lock_id = spec.get("lock_id") or str(uuid.uuid4())
            if lock_id not in account.locks:
                account.locks[lock_id] = SimLock(lock_id=lock_id, name=spec["name"],
                                                 max_codes=int(spec.get("max_codes", 20)))
        for spec in doc.get("listings", []):
            account.listings[spec["listing_id"]] = SimListing(
                listing_id=spec["listing_id"], name=spec["name"], code_length=int(spec.get("code_length", 4)),
                timezone=spec.get("timezone", "US/Eastern"), linked_locks=list(spec["linked_locks"]))
        return JSONResponse(_account_doc(account))

    def account_or_404(account_id: str) -> Account:
        account = accounts.get(account_id)
        if account is None:
            raise _NotFound
        return account

    @app.get("/_sim/accounts/{account_id}")
    async def get_account(account_id: str) -> Response:
        return JSONResponse(_account_doc(account_or_404(account_id)))

    @app.patch("/_sim/accounts/{account_id}/locks/{lock_id}")
    async def patch_lock(request: Request, account_id: str, lock_id: str) -> Response:
        """Inject lock conditions: online, jammed, battery, state, max_codes, tampered (an event)."""
        account = account_or_404(account_id)
        lock = account.locks[lock_id]
        doc = await body_of(request) or {}
        if "online" in doc and bool(doc["online"]) != lock.online:
            lock.online = bool(doc["online"])
            lock.offline_since = None if lock.online else time.time()
        if "jammed" in doc:
            lock.jammed = bool(doc["jammed"])
            if lock.jammed:
                account.add_event(lock, "jammed")
        if doc.get("tampered"):
            account.add_event(lock, "tampered")
        for key in ("battery", "state", "max_codes"):
            if key in doc:
                setattr(lock, key, doc[key])
        if "manual" in doc:  # someone turned the thumb-turn
            account.operate(lock, doc["manual"], method="manual")
        return JSONResponse(_account_doc(account)["locks"][lock_id])

    @app.post("/_sim/accounts/{account_id}/faults")
    async def add_fault(request: Request, account_id: str) -> Response:
        """The next `count` calls (matching `match`, e.g. "PUT unlock") answer `status`, garbage or hang."""
        account = account_or_404(account_id)
        doc = await body_of(request) or {}
        account.faults.append({"status": doc.get("status", 503), "count": int(doc.get("count", 1)),
                               "match": doc.get("match"), "garbage": bool(doc.get("garbage")),
                               "hang_ms": doc.get("hang_ms"), "retry_after": doc.get("retry_after")})
        return JSONResponse({"faults": len(account.faults)})

    @app.post("/_sim/accounts/{account_id}/expire-tokens")
    async def expire_tokens(account_id: str) -> Response:
        account = account_or_404(account_id)
        account.tokens = dict.fromkeys(account.tokens, time.time() - 1)
        return JSONResponse({"expired": len(account.tokens)})

    @app.post("/_sim/accounts/{account_id}/keypad")
    async def keypad(request: Request, account_id: str) -> Response:
        """Someone types `code` on lock `lock_id`: seed-001 lock events with the code id when it opens."""
        account = account_or_404(account_id)
        doc = await body_of(request) or {}
        lock = account.locks.get(str(doc.get("lock_id")))
        if lock is None:
            return _error(404, "Not Found")
        used = account.keypad(lock, str(doc.get("code")), time.time())
        return JSONResponse({"accepted": used is not None, "code_id": used.code_id if used else None})

    @app.exception_handler(_NotFoundError)
    async def _missing(request: Request, exc: _NotFoundError) -> Response:
        return _error(404, "no such simulator account")

    return app


class _NotFoundError(Exception):
    pass


_NotFound = _NotFoundError()


def _apply(code: SimCode, doc: dict[str, Any]) -> None:
    if doc.get("code-name") is not None:
        code.name = str(doc["code-name"])
    for key in _CODE_FIELDS:
        if doc.get(key) is not None:
            setattr(code, key.replace("-", "_"), doc[key])


def _account_doc(account: Account) -> dict[str, Any]:
    now = time.time()
    return {
        "account_id": account.account_id, "permanent_token": account.permanent_token,
        "live_tokens": account.live_tokens(now), "calls": account.calls,
        "locks": {lk.lock_id: {"name": lk.name, "state": lk.state, "battery": lk.battery, "online": lk.online,
                               "jammed": lk.jammed, "max_codes": lk.max_codes} for lk in account.locks.values()},
        "listings": {li.listing_id: {"name": li.name, "linked_locks": li.linked_locks}
                     for li in account.listings.values()},
        "codes": {c.code_id: {"name": c.name, "code": c.code, "listing_id": c.listing_id, "deleted": c.deleted,
                              "manual": c.manual, "daterangestart": c.daterangestart,
                              "daterangeend": c.daterangeend}
                  for c in account.codes.values()},
    }
