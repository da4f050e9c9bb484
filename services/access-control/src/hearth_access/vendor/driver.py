"""Driver for seed 001's lock vendor API ("Aurmur"), spoken exactly as the seed documents it.

Token handling: a permanent token buys a 24 h temporary token (`POST /v1/authentication/`); the driver
keeps it (in memory and through a `TokenStore`, so a restart reuses it rather than minting another),
refreshes it shortly before it expires and again when a call answers 412 Token Expired. A 411 Too Many
Tokens while refreshing means "use the one you have": the driver keeps the current token if it is still
valid. Faults: 429 waits (Retry-After or backoff) and retries; 5xx (505 included), garbage and timeouts
are retried a bounded number of times with backoff; 400/413/414 are the caller's error (never retried);
404 and 409 are answers, not faults.

Quirks handled here so nothing else sees them: the token field and its expiry come under two names, lock
events say `type` where the table says `kind`, dates are `MM/dd/yyyy hh:mm a` in the listing's `US/*`
zone (`vendor_time`), and `code` travels as a number (callers must not send a leading zero; see
`domain.codes`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx

VENDOR_TIME_FORMAT = "%m/%d/%Y %I:%M %p"


class VendorError(Exception):
    """The vendor could not do what was asked (after the driver's retries)."""

    retryable = True

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class VendorUnavailable(VendorError):
    """5xx, garbage or timeouts, still after the bounded retries."""


class VendorTimeout(VendorUnavailable):
    """The vendor said the lock did not answer in time (504) or our call timed out."""


class VendorRateLimited(VendorUnavailable):
    """429 still after the retries."""


class VendorAuthError(VendorError):
    """The permanent token was refused (401/403), or no temporary token could be had."""

    retryable = False


class VendorRequestError(VendorError):
    """400/413/414: what we sent is wrong; retrying the same request cannot help."""

    retryable = False


class VendorNotFound(VendorError):
    """404: the vendor does not know that lock or code."""

    retryable = False


class VendorConflict(VendorError):
    """409: e.g. the lock is jammed, or the code already exists on the listing."""

    retryable = False


@dataclass(frozen=True)
class TemporaryToken:
    token: str
    expires_at: float  # epoch seconds


class TokenStore(Protocol):
    """Where the driver keeps its temporary token between processes (sealed in the database)."""

    async def load(self) -> TemporaryToken | None: ...

    async def save(self, token: TemporaryToken) -> None: ...


class MemoryTokenStore:
    """A token store for tests and one-off use."""

    def __init__(self) -> None:
        self.token: TemporaryToken | None = None

    async def load(self) -> TemporaryToken | None:
        return self.token

    async def save(self, token: TemporaryToken) -> None:
        self.token = token


@dataclass(frozen=True)
class RetryPolicy:
    """How hard the driver tries before giving up (tests shrink the pauses)."""

    attempts: int = 4
    backoff_seconds: float = 0.2
    max_backoff_seconds: float = 5.0
    max_retry_after_seconds: float = 10.0
    timeout_seconds: float = 10.0
    refresh_margin_seconds: float = 300.0


@dataclass(frozen=True)
class VendorLock:
    lock_id: str
    name: str
    model: str | None


@dataclass(frozen=True)
class VendorLockStatus:
    lock_id: str
    state: str  # locked | unlocked | unknown
    battery: int | None
    minutes_since_update: int


@dataclass(frozen=True)
class VendorLockEvent:
    event_id: str
    lock_id: str
    action: str  # locked | unlocked | jammed | tampered
    method: str | None
    kind: str | None
    code_id: str | None
    listing_id: str | None
    at: datetime


@dataclass(frozen=True)
class VendorListing:
    listing_id: str
    name: str
    code_length: int
    timezone: str
    linked_locks: list[str]


@dataclass(frozen=True)
class VendorCode:
    code_id: str
    name: str
    listing_id: str
    deleted: bool
    status: str
    lock_status: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CodeSchedule:
    """A code's schedule in the vendor's terms (times already in the listing's zone)."""

    manual: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    hours: tuple[int, int] | None = None
    days: tuple[str, ...] | None = None

    def as_fields(self, timezone: str) -> dict[str, Any]:
        if self.manual is not None:
            return {"manual": self.manual}
        out: dict[str, Any] = {}
        if self.start is not None:
            out["daterangestart"] = vendor_time(self.start, timezone)
        if self.end is not None:
            out["daterangeend"] = vendor_time(self.end, timezone)
        if self.hours is not None:
            out["hoursperdaystart"], out["hoursperdayend"] = self.hours
        if self.days:
            out["daysofeachweek"] = list(self.days)
        return out


def vendor_time(moment: datetime, timezone: str) -> str:
    """`MM/dd/yyyy hh:mm a` in the listing's zone (minutes precision; callers align edges to minutes)."""
    return moment.astimezone(ZoneInfo(timezone)).strftime(VENDOR_TIME_FORMAT)


def parse_vendor_time(value: str, timezone: str) -> datetime:
    """The inverse of `vendor_time`: an aware datetime."""
    return datetime.strptime(value.strip(), VENDOR_TIME_FORMAT).replace(tzinfo=ZoneInfo(timezone))


class AurmurDriver:
    """One vendor account: a permanent token, its temporary token, and the seed's endpoints."""

    def __init__(self, *, base_url: str, permanent_token: str, client: httpx.AsyncClient,
                 store: TokenStore | None = None, policy: RetryPolicy | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._base = base_url.rstrip("/")
        self._permanent = permanent_token
        self._client = client
        self._store = store or MemoryTokenStore()
        self._policy = policy or RetryPolicy()
        self._sleep = sleep
        self._token: TemporaryToken | None = None
        self._token_lock = asyncio.Lock()
        self.calls = 0  # vendor calls made, tokens included (observability and tests)

    # --- the seed's endpoints -------------------------------------------------------------------

    async def list_locks(self) -> list[VendorLock]:
        rows = await self._json_list("GET", "/v1/listlocks/")
        return [VendorLock(lock_id=str(r["lock-id"]), name=str(r.get("lock-name") or r["lock-id"]),
                           model=r.get("smartthings-name")) for r in rows]

    async def lock(self, lock_id: str) -> None:
        await self._call("PUT", f"/v1/lock/{_segment(lock_id)}")

    async def unlock(self, lock_id: str) -> None:
        await self._call("PUT", f"/v1/unlock/{_segment(lock_id)}")

    async def lock_status(self, lock_id: str = "all") -> list[VendorLockStatus]:
        rows = await self._json_list("GET", "/v1/lockstatus/", params={"lock-id": lock_id})
        return [VendorLockStatus(lock_id=str(r["lock-id"]), state=str(r.get("state") or "unknown"),
                                 battery=_int_or_none(r.get("battery")),
                                 minutes_since_update=_int_or_none(r.get("last-update")) or 0) for r in rows]

    async def lock_events(self, lock_id: str = "all") -> list[VendorLockEvent]:
        rows = await self._json_list("GET", "/v1/lockevents", params={"lock-id": lock_id})
        return [parse_lock_event(r) for r in rows]

    async def list_listings(self) -> list[VendorListing]:
        rows = await self._json_list("GET", "/v1/listings")
        out = []
        for r in rows:
            tz = r.get("timezone")
            if isinstance(tz, list):  # the table says "JSON Array of Strings", the example a string
                tz = tz[0] if tz else None
            out.append(VendorListing(listing_id=str(r["listing-id"]), name=str(r.get("listing-name") or ""),
                                     code_length=int(r.get("code-length") or 4), timezone=str(tz or "US/Eastern"),
                                     linked_locks=[str(x) for x in r.get("linked-locks") or []]))
        return out

    async def list_codes(self) -> list[VendorCode]:
        rows = await self._json_list("GET", "/v1/codes")
        return [VendorCode(code_id=str(r["code-id"]), name=str(r.get("code-name") or ""),
                           listing_id=str(r.get("listing-id") or ""), deleted=bool(r.get("deleted")),
                           status=str(r.get("status") or "new"),
                           lock_status={str(x["lock-id"]): str(x["status"]) for x in r.get("lock-status") or []})
                for r in rows]

    async def create_code(self, *, name: str, listing_id: str, code: str, timezone: str,
                          schedule: CodeSchedule, unlock_notifications: str | None = None) -> str:
        """Program a code on a listing; returns the vendor's code id.

        `name` must be unique per listing (Hearth sends its own code id): when a retried create meets a
        409 because an earlier, unanswered attempt did land, the code is found by name instead.
        """
        if code.startswith("0"):
            raise VendorRequestError("the vendor takes codes as numbers: a leading zero would be lost")
        body: dict[str, Any] = {"code-name": name, "listing-id": listing_id, "code": int(code),
                                **schedule.as_fields(timezone)}
        if unlock_notifications:
            body["unlock-notifications"] = unlock_notifications
        try:
            doc = await self._call("POST", "/v1/codes/", json=body)
        except VendorConflict:
            existing = [c for c in await self.list_codes() if c.name == name and c.listing_id == listing_id
                        and not c.deleted]
            if existing:
                return existing[0].code_id
            raise
        if not isinstance(doc, dict) or not doc.get("code-id"):
            raise VendorUnavailable("create code answered without a code-id")
        return str(doc["code-id"])

    async def update_code(self, code_id: str, *, timezone: str, schedule: CodeSchedule,
                          name: str | None = None) -> None:
        body: dict[str, Any] = schedule.as_fields(timezone)
        if name is not None:
            body["code-name"] = name
        await self._call("PUT", f"/v1/codes/{_segment(code_id)}", json=body)

    async def delete_code(self, code_id: str) -> None:
        """Remove a code; an already-gone code counts as removed."""
        try:
            await self._call("DELETE", f"/v1/codes/{_segment(code_id)}")
        except VendorNotFound:
            return

    async def check(self) -> None:
        """A cheap authenticated call: raises when the vendor cannot be used."""
        await self.list_listings()

    # --- plumbing ---------------------------------------------------------------------------------

    async def _json_list(self, method: str, path: str, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
        doc = await self._call(method, path, params=params)
        if not isinstance(doc, list) or not all(isinstance(r, dict) for r in doc):
            raise VendorUnavailable(f"{path} answered something that is not a list of objects")
        return doc

    async def _call(self, method: str, path: str, *, params: dict[str, str] | None = None,
                    json: Any = None) -> Any:
        policy = self._policy
        refreshed = False
        last: VendorError = VendorUnavailable("no attempt made")
        for attempt in range(policy.attempts):
            token = await self._temporary_token()
            try:
                self.calls += 1
                resp = await self._client.request(method, self._base + path, params=params, json=json,
                                                  headers={"x-temporary-token": token.token},
                                                  timeout=policy.timeout_seconds)
            except httpx.TimeoutException as exc:
                last = VendorTimeout(f"{method} {path} timed out: {exc!r}")
            except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
                last = VendorUnavailable(f"{method} {path} failed: {exc!r}")
            else:
                status = resp.status_code
                if status < 300:
                    try:
                        return resp.json() if resp.content else None
                    except ValueError:
                        last = VendorUnavailable(f"{method} {path} answered {status} with a body that is not JSON")
                elif status in (401, 412) and not refreshed:
                    # 412: the temporary token expired early (or was revoked); 401: it is unknown. Mint once.
                    refreshed = True
                    await self._forget(token)
                    continue
                elif status == 429:
                    last = VendorRateLimited(f"{method} {path}: 429 Too Many Requests", status=status)
                    if attempt + 1 < policy.attempts:
                        await self._sleep(self._retry_after(resp, attempt))
                    continue
                elif status == 504:
                    last = VendorTimeout(f"{method} {path}: 504 Endpoint Request Timed-out", status=status)
                elif status >= 500:  # 500, 502, 503, 505 "Error processing request"
                    last = VendorUnavailable(f"{method} {path}: {status} {_message(resp)}", status=status)
                else:
                    raise _answer_error(method, path, resp)
            if attempt + 1 < policy.attempts:
                await self._sleep(self._backoff(attempt))
        raise last

    def _backoff(self, attempt: int) -> float:
        return float(min(self._policy.backoff_seconds * (2 ** attempt), self._policy.max_backoff_seconds))

    def _retry_after(self, resp: httpx.Response, attempt: int) -> float:
        try:
            wanted = float(resp.headers.get("Retry-After", ""))
        except ValueError:
            return self._backoff(attempt)
        return max(0.0, min(wanted, self._policy.max_retry_after_seconds))

    async def _forget(self, token: TemporaryToken) -> None:
        async with self._token_lock:
            if self._token == token:
                self._token = TemporaryToken(token.token, 0.0)  # kept only as the 411 fallback of last resort

    async def _temporary_token(self) -> TemporaryToken:
        """The current temporary token, minted or refreshed when it is (nearly) expired."""
        now = time.time()
        token = self._token
        if token is not None and token.expires_at - now > self._policy.refresh_margin_seconds:
            return token
        async with self._token_lock:
            if self._token is None:
                self._token = await self._store.load()
            token = self._token
            if token is not None and token.expires_at - now > self._policy.refresh_margin_seconds:
                return token
            minted = await self._mint()
            if minted is None:  # 411 Too Many Tokens: reuse what we hold while it is still valid
                if token is not None and token.expires_at > now:
                    return token
                raise VendorAuthError("vendor refused a new temporary token (411 Too Many Tokens) and the "
                                      "current one has expired", status=411)
            self._token = minted
            await self._store.save(minted)
            return minted

    async def _mint(self) -> TemporaryToken | None:
        """Exchange the permanent token; None on 411 Too Many Tokens."""
        policy = self._policy
        last: VendorError = VendorUnavailable("no attempt made")
        for attempt in range(policy.attempts):
            try:
                self.calls += 1
                resp = await self._client.post(self._base + "/v1/authentication/",
                                               headers={"x-permanent-token": self._permanent},
                                               timeout=policy.timeout_seconds)
            except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
                last = VendorUnavailable(f"token exchange failed: {exc!r}")
            else:
                if resp.status_code == 411:
                    return None
                if resp.status_code in (401, 403):
                    raise VendorAuthError("the vendor refused the permanent token", status=resp.status_code)
                if resp.status_code < 300:
                    token = _parse_token(resp)
                    if token is not None:
                        return token
                    last = VendorUnavailable("token exchange answered without a usable token")
                elif resp.status_code == 429:
                    last = VendorRateLimited("token exchange: 429", status=429)
                    if attempt + 1 < policy.attempts:
                        await self._sleep(self._retry_after(resp, attempt))
                    continue
                elif resp.status_code >= 500:
                    last = VendorUnavailable(f"token exchange: {resp.status_code}", status=resp.status_code)
                else:
                    raise _answer_error("POST", "/v1/authentication/", resp)
            if attempt + 1 < policy.attempts:
                await self._sleep(self._backoff(attempt))
        raise last


def _parse_token(resp: httpx.Response) -> TemporaryToken | None:
    try:
        doc = resp.json()
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    # the seed's table and its example disagree on names: accept both spellings of each
    token = doc.get("temporary-token") or doc.get("temporary_token") or doc.get("temporaryToken")
    expiry = doc.get("expiration-epoch") or doc.get("epoch-time") or doc.get("expiration_epoch")
    try:
        expires_at = float(expiry) if expiry is not None else time.time() + 86_400
    except (TypeError, ValueError):
        expires_at = time.time() + 86_400
    if expires_at > 1e11:  # milliseconds
        expires_at /= 1000
    return TemporaryToken(str(token), expires_at) if token else None


def _answer_error(method: str, path: str, resp: httpx.Response) -> VendorError:
    status = resp.status_code
    text = f"{method} {path}: {status} {_message(resp)}"
    if status == 404:
        return VendorNotFound(text, status=status)
    if status == 409:
        return VendorConflict(text, status=status)
    if status in (401, 403):
        return VendorAuthError(text, status=status)
    if status in (400, 411, 413, 414):
        return VendorRequestError(text, status=status)
    return VendorUnavailable(text, status=status)


def _message(resp: httpx.Response) -> str:
    try:
        doc = resp.json()
    except ValueError:
        return resp.text[:200]
    return str(doc.get("message", ""))[:200] if isinstance(doc, dict) else ""


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None else round(float(value))
    except (TypeError, ValueError):
        return None


def _segment(value: str) -> str:
    """A vendor id as one path segment (ids come from the vendor, but never trust them to be path-safe)."""
    return quote(value, safe="")


def parse_lock_event(r: dict[str, Any]) -> VendorLockEvent:
    """One seed-001 lock event (from `lockevents` or a push); KeyError/ValueError/TypeError when malformed."""
    return VendorLockEvent(
        event_id=str(r["lock-event-id"]), lock_id=str(r["lock-id"]), action=str(r["action"]),
        method=r.get("method"), kind=r.get("kind") or r.get("type"),  # the seed's example says `type`
        code_id=r.get("code-id"), listing_id=r.get("listing-id"),
        at=datetime.fromtimestamp(float(r.get("event-epoch") or time.time()), UTC))
