"""Lock vendor accounts: registration (credentials sealed), drivers, and importing listings and locks."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from hearth_kit.db import Database
from hearth_kit.errors import Conflict, InvalidInput, NotFound
from hearth_kit.ids import new_id
from hearth_kit.logging import get_logger
from hearth_kit.pagination import PageParams
from hearth_kit.sealing import Sealer
from hearth_kit.tx import Tx

from hearth_access import repository as repo
from hearth_access.config import Settings
from hearth_access.service.projection import wait_for_building, wait_for_unit
from hearth_access.vendor.driver import AurmurDriver, RetryPolicy, TemporaryToken, VendorError

log = get_logger(__name__)
T = TypeVar("T")
# A request's way to run a step in its own transaction (`Call.read` / `Call.write`): use cases that call
# the vendor between steps (which must not hold a transaction open) take one of these.
Steps = Callable[[Callable[[Tx], Awaitable[T]]], Awaitable[T]]


class DbTokenStore:
    """Keeps a vendor's temporary token sealed in its row, so a restart reuses it instead of minting."""

    def __init__(self, db: Database, sealer: Sealer, *, vendor_id: str, org_id: str) -> None:
        self._db, self._sealer, self._vendor_id, self._org_id = db, sealer, vendor_id, org_id

    async def load(self) -> TemporaryToken | None:
        async with self._db.transaction(org_id=self._org_id) as conn:
            row = await repo.vendor(conn, self._vendor_id)
        if row is None or not row["temporary_token"]:
            return None
        token = self._sealer.open(row["temporary_token"], what="a vendor token")
        return TemporaryToken(token, float(row["temporary_expires"] or 0))

    async def save(self, token: TemporaryToken) -> None:
        async with self._db.transaction(org_id=self._org_id) as conn:
            await repo.save_vendor_token(conn, self._vendor_id, sealed=self._sealer.seal(token.token),
                                         expires=token.expires_at)


class VendorHub:
    """The service's state: one driver per vendor account over one shared HTTP client (drivers keep their
    tokens between calls), the code scheduler's wake-up, and the long-polls waiting in this process.

    Built with the settings when the app is built; `open` gives it the database and the HTTP client once
    the service runs (jobs wait for `opened`)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.source = settings.source
        self.sealer = Sealer(settings.credential_keys, setting="HEARTH_ACCESS_CREDENTIAL_KEYS",
                             clear_text_allowed=False)
        self.policy = RetryPolicy(attempts=settings.vendor_attempts, backoff_seconds=settings.vendor_backoff_seconds,
                                  timeout_seconds=settings.vendor_timeout_seconds,
                                  refresh_margin_seconds=settings.vendor_token_refresh_margin_seconds)
        self._db: Database | None = None
        self._client: httpx.AsyncClient | None = None
        self.opened = asyncio.Event()
        self._drivers: dict[str, AurmurDriver] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.sync_wake = asyncio.Event()
        self.last_read_back: dict[str, float] = {}
        # long-polls waiting in this process, woken when this process ends their attempt
        self.attempt_waiters: dict[str, asyncio.Event] = {}
        # fast-path command tasks (held so they are not garbage-collected mid-call)
        self.background: set[asyncio.Task[None]] = set()

    def open(self, db: Database, client: httpx.AsyncClient) -> None:
        self._db, self._client = db, client
        self.opened.set()

    def close(self) -> None:
        self._db = self._client = None
        self._drivers.clear()
        # fresh events: a test may run the same app again on another event loop
        self.opened, self.sync_wake = asyncio.Event(), asyncio.Event()

    @property
    def db(self) -> Database:
        if self._db is None:
            raise RuntimeError("the vendor hub is not open yet")
        return self._db

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            raise RuntimeError("the vendor hub is not open yet")
        return self._client

    @contextlib.asynccontextmanager
    async def tx(self, org_id: str) -> AsyncIterator[Tx]:
        """A unit of work for background work (jobs, the bridge): one org's transaction, no caller."""
        async with self.db.transaction(org_id=org_id) as conn:
            yield Tx(conn=conn, org_id=org_id, source=self.source)

    def attempt_finished(self, attempt_id: str) -> None:
        waiter = self.attempt_waiters.get(attempt_id)
        if waiter is not None:
            waiter.set()

    def wake_sync(self) -> None:
        """Ask the code scheduler for a pass now (a code was created, changed or removed)."""
        self.sync_wake.set()

    def driver_for(self, vendor: Any) -> AurmurDriver:
        drv = self._drivers.get(vendor["id"])
        if drv is None:
            store = DbTokenStore(self.db, self.sealer, vendor_id=vendor["id"], org_id=vendor["org_id"])
            drv = AurmurDriver(base_url=vendor["base_url"], client=self.client, policy=self.policy, store=store,
                               permanent_token=self.sealer.open(vendor["permanent_token"], what="a vendor token"))
            self._drivers[vendor["id"]] = drv
        return drv

    def forget(self, vendor_id: str) -> None:
        self._drivers.pop(vendor_id, None)

    def lock_for(self, vendor_id: str) -> asyncio.Lock:
        """One sync at a time per vendor in this process (import, polling and code sync share it)."""
        return self._locks.setdefault(vendor_id, asyncio.Lock())


def vendor_view(row: Any) -> dict[str, Any]:
    """A vendor as the API shows it: never its tokens."""
    return {"id": row["id"], "name": row["name"], "kind": row["kind"], "base_url": row["base_url"],
            "status": row["status"], "last_error": row["last_error"],
            "last_sync_at": _iso(row["last_sync_at"]), "created_at": _iso(row["created_at"])}


def listing_view(row: Any) -> dict[str, Any]:
    return {"id": row["id"], "vendor_id": row["vendor_id"], "vendor_listing_id": row["vendor_listing_id"],
            "name": row["name"], "code_length": row["code_length"], "timezone": row["timezone"],
            "vendor_lock_ids": list(row["linked_locks"]), "building_id": row["building_id"],
            "unit_id": row["unit_id"]}


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def check_base_url(url: str, *, environment: str, allow_private: bool | None) -> None:
    """An http(s) URL; in prod https only and, unless allowed, no loopback/private address literals."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        host = None
    if host is None or parts.scheme not in ("http", "https"):
        raise InvalidInput("base_url must be an http(s) URL",
                           errors=[{"field": "base_url", "message": "must be an http(s) URL", "code": "url"}])
    if environment == "prod" and parts.scheme != "https":
        raise InvalidInput("base_url must use https")
    private_ok = allow_private if allow_private is not None else environment != "prod"
    if not private_ok:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if host == "localhost" or (address is not None and not address.is_global):
            raise InvalidInput("base_url may not point at a private or loopback address")


async def register_vendor(hub: VendorHub, write: Steps[Any], *, name: str, base_url: str,
                          permanent_token: str) -> dict[str, Any]:
    """Store a vendor account (token sealed), then import its listings and locks once (a failure degrades it)."""
    check_base_url(base_url, environment=hub.settings.environment,
                   allow_private=hub.settings.allow_private_vendor_urls)

    async def insert(tx: Tx) -> Any:
        row = await repo.insert_vendor(tx.conn, vendor_id=new_id("vnd"), org_id=tx.org_id, name=name,
                                       base_url=base_url.rstrip("/"), permanent_token=hub.sealer.seal(permanent_token))
        if row is None:
            raise Conflict(f"a lock vendor named '{name}' already exists")
        return row

    row = await write(insert)
    try:  # a slow vendor does not hold the request: the import timer picks it up
        await asyncio.wait_for(import_vendor(hub, vendor_id=row["id"], org_id=row["org_id"]),
                               hub.settings.register_import_seconds)
    except TimeoutError:
        log.warning("lock vendor import still running at registration", vendor_id=row["id"])
    view: dict[str, Any] = await write(lambda tx: get_vendor(tx, vendor_id=row["id"]))
    return view


async def get_vendor(tx: Tx, *, vendor_id: str) -> dict[str, Any]:
    row = await repo.vendor(tx.conn, vendor_id)
    if row is None:
        raise NotFound.of("lock vendor", vendor_id)
    return vendor_view(row)


async def list_vendors(tx: Tx, *, page: PageParams) -> tuple[list[dict[str, Any]], int]:
    rows, total = await repo.vendors(tx.conn, limit=page.limit, offset=page.offset)
    return [vendor_view(r) for r in rows], total


async def list_listings(tx: Tx, *, vendor_id: str) -> list[dict[str, Any]]:
    if await repo.vendor(tx.conn, vendor_id) is None:
        raise NotFound.of("lock vendor", vendor_id)
    return [listing_view(r) for r in await repo.listings(tx.conn, vendor_id)]


async def map_listing(hub: VendorHub, write: Steps[Any], *, vendor_id: str, listing_id: str,
                      building_id: str, unit_id: str | None) -> dict[str, Any]:
    """Say which unit (its doors) or building (common doors, unit_id null) a vendor listing stands for."""
    wait = hub.settings.projection_wait_seconds
    if unit_id is not None:
        unit = await wait_for_unit(write, unit_id=unit_id, wait=wait)
        if unit["building_id"] != building_id:
            raise InvalidInput(f"unit {unit_id} is not in building {building_id}")
    else:
        await wait_for_building(write, building_id=building_id, wait=wait)

    async def save(tx: Tx) -> dict[str, Any]:
        row = await repo.listing(tx.conn, listing_id)
        if row is None or row["vendor_id"] != vendor_id:
            raise NotFound.of("listing", listing_id)
        row = await repo.map_listing(tx.conn, listing_id, building_id=building_id, unit_id=unit_id)
        await repo.place_locks_of_listing(tx.conn, row)
        return listing_view(row)

    mapped: dict[str, Any] = await write(save)
    return mapped


async def import_vendor(hub: VendorHub, *, vendor_id: str, org_id: str) -> int:
    """Pull listings and locks from the vendor into Hearth; returns how many locks are new. Never raises on
    vendor faults: the vendor is marked degraded with the error instead (and `/readyz` says so)."""
    async with hub.db.transaction(org_id=org_id) as conn:
        vendor = await repo.vendor(conn, vendor_id)
    if vendor is None:
        return 0
    drv = hub.driver_for(vendor)
    async with hub.lock_for(vendor_id):
        try:
            vendor_listings = await drv.list_listings()
            vendor_locks = await drv.list_locks()
        except VendorError as exc:
            async with hub.db.transaction(org_id=org_id) as conn:
                await repo.set_vendor_health(conn, vendor_id, ok=False, error=str(exc))
            log.warning("lock vendor import failed", vendor_id=vendor_id, error=str(exc))
            return 0
        created = 0
        async with hub.db.transaction(org_id=org_id) as conn:
            for lk in vendor_locks:
                row = await repo.upsert_lock(conn, lock_id=new_id("lock"), org_id=org_id, vendor_id=vendor_id,
                                             vendor_lock_id=lk.lock_id, name=lk.name[:200], model=lk.model,
                                             max_codes=hub.settings.default_max_codes_per_lock)
                created += int(row["inserted"])
            # common-door listings first, so a unit listing's placement wins for a lock linked to both
            rows = []
            for li in vendor_listings:
                rows.append(await repo.upsert_listing(
                    conn, listing_id=new_id("lst"), org_id=org_id, vendor_id=vendor_id,
                    vendor_listing_id=li.listing_id, name=li.name[:200], code_length=li.code_length,
                    timezone=li.timezone, linked_locks=li.linked_locks))
            for row in sorted(rows, key=lambda r: r["unit_id"] is not None):
                if row["building_id"] is not None:
                    await repo.place_locks_of_listing(conn, row)
            await repo.set_vendor_health(conn, vendor_id, ok=True, error=None, synced=True)
    return created


async def import_now(hub: VendorHub, write: Steps[Any], *, org_id: str, vendor_id: str) -> dict[str, Any]:
    await write(lambda tx: get_vendor(tx, vendor_id=vendor_id))  # 404 for an unknown (or another org's) vendor
    created = await import_vendor(hub, vendor_id=vendor_id, org_id=org_id)
    view = await write(lambda tx: get_vendor(tx, vendor_id=vendor_id))
    return {**view, "locks_created": created}


async def import_job_pass(hub: VendorHub) -> None:
    """Re-import every vendor (new locks and listings appear without anyone asking)."""
    async with hub.db.system_transaction() as conn:
        vendors = await repo.all_vendors(conn)
    for v in vendors:
        await import_vendor(hub, vendor_id=v["id"], org_id=v["org_id"])


def now_epoch() -> float:
    return time.time()
