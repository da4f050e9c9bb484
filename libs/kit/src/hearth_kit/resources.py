"""Resources and the use cases every service repeats: load one, update it, delete it — written once.

A service describes each resource once:

    DEVICE = Resource(kind="device", path="/v1/devices/{id}", view=device_view, load=load_device,
                      fields=("name", "status"), save=save_device,
                      updated=lambda row: DeviceUpdated(**snapshot(row)),
                      status_changed=lambda row, prev: DeviceStatusChanged(**snapshot(row), previous_status=prev))

(property's `service/*.py` hold real ones), and `update(tx, DEVICE, id, body, partial=...)` loads the row
under lock (404 when missing), checks `If-Match`, merges the sent fields, saves, and announces `updated`
when any field other than the status changed and `status_changed` when the status did (both when both,
nothing when nothing changed).
A resource with derived columns passes `apply` to compute the new fields itself.

ETags name a version of a resource: a hash of its id and `updated_at` (every write bumps it), so the
tag a GET returns is the tag a later PUT/PATCH/DELETE compares `If-Match` with.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
from hearth_contracts.envelope import EventData
from pydantic import BaseModel

from hearth_kit.errors import NotFound, PreconditionFailed
from hearth_kit.tx import Tx

Row = asyncpg.Record
View = dict[str, Any]


class Loader(Protocol):
    """Load one row by id in the transaction (`lock` = FOR UPDATE); None when it is not there."""

    def __call__(self, tx: Tx, ident: str, lock: bool, /) -> Awaitable[Row | None]: ...


@dataclass(frozen=True)
class Resource:
    """How one kind of resource is loaded, shown, saved and announced."""

    kind: str
    load: Loader
    view: Callable[[Row], View]
    path: str = ""  # "/v1/buildings/{id}": the Location of a created one
    fields: tuple[str, ...] = ()  # the columns a PUT/PATCH may change
    save: Callable[[Tx, str, dict[str, Any]], Awaitable[Row]] | None = None
    updated: Callable[[Row], EventData] | None = None
    status_changed: Callable[[Row, str], EventData] | None = None
    status_field: str = "status"
    # Compute the new column values from the row and the body (default: `merge_fields`).
    apply: Callable[[Tx, Row, BaseModel, bool], Awaitable[dict[str, Any]]] | None = None

    def location(self, doc: View) -> str | None:
        return self.path.format(id=doc["id"]) if self.path and "id" in doc else None


def etag_of(doc: Mapping[str, Any]) -> str:
    """The strong ETag of a resource document (its id and last write)."""
    basis = f"{doc.get('id')}|{doc.get('updated_at')}" if "updated_at" in doc else repr(sorted(doc.items()))
    return '"' + hashlib.sha256(basis.encode()).hexdigest()[:27] + '"'


def check_if_match(if_match: str | None, current: str) -> None:
    """412 unless `If-Match` is absent, `*`, or lists the current tag (strong comparison: W/ never matches)."""
    if if_match is None:
        return
    tags = [t.strip() for t in if_match.split(",")]
    if "*" in tags or current in tags:
        return
    raise PreconditionFailed(f"the resource has changed (its ETag is now {current}); fetch it and retry",
                             etag=current)


def merge_fields(before: Row, body: BaseModel, fields: tuple[str, ...], *, partial: bool) -> dict[str, Any]:
    """The row's current values with the body's applied: all of them (PUT), or those sent (PATCH)."""
    merged = {k: before[k] for k in fields}
    sent = body.model_fields_set if partial else set(fields)
    dumped = body.model_dump(include=sent & set(fields))
    merged.update(dumped)
    return merged


def _norm(value: Any) -> Any:
    return list(value) if isinstance(value, list | tuple) else value


def _same(a: Any, b: Any) -> bool:
    return bool(_norm(a) == _norm(b))


async def load(tx: Tx, resource: Resource, ident: str, *, lock: bool = False) -> Row:
    """The row, or NotFound."""
    row = await resource.load(tx, ident, lock)
    if row is None:
        raise NotFound.of(resource.kind, ident)
    return row


async def announce_change(tx: Tx, resource: Resource, *, before: Row, after: Row, subject: str) -> None:
    """`updated` when a field other than the status changed, `status_changed` when the status did."""
    status = resource.status_field
    if resource.updated is not None and any(not _same(before[k], after[k]) for k in resource.fields if k != status):
        await tx.emit(resource.updated(after), subject=subject)
    if resource.status_changed is not None and status in before and not _same(before[status], after[status]):
        await tx.emit(resource.status_changed(after, before[status]), subject=subject)


async def update(tx: Tx, resource: Resource, ident: str, body: BaseModel, *, partial: bool,
                 if_match: str | None = None) -> View:
    """The update use case: load under lock, check If-Match, apply, save, announce; returns the view."""
    if resource.save is None:
        raise TypeError(f"{resource.kind} cannot be updated (no save)")
    before = await load(tx, resource, ident, lock=True)
    check_if_match(if_match, etag_of(resource.view(before)))
    if resource.apply is not None:
        fields = await resource.apply(tx, before, body, partial)
    else:
        fields = merge_fields(before, body, resource.fields, partial=partial)
    after = await resource.save(tx, ident, fields)
    await announce_change(tx, resource, before=before, after=after, subject=ident)
    return resource.view(after)


async def delete(tx: Tx, resource: Resource, ident: str, remove: Callable[[Tx, Row], Awaitable[None]],
                 *, if_match: str | None = None) -> None:
    """The delete use case: load under lock (404), check If-Match, then `remove` (its rules, row, event)."""
    before = await load(tx, resource, ident, lock=True)
    check_if_match(if_match, etag_of(resource.view(before)))
    await remove(tx, before)
