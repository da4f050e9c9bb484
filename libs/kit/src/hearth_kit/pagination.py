"""Page/limit pagination shaped as the seeds do: `{"data": [...], "meta": {"total", "page", "limit"}}`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query
from fastapi.responses import JSONResponse

MAX_LIMIT = 100


@dataclass(frozen=True)
class PageParams:
    """Which page the caller asked for."""

    page: int
    limit: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


async def _page_params(
    page: Annotated[int, Query(ge=1, le=1_000_000, description="Page number, from 1")] = 1,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Results per page (max 100)")] = 20,
) -> PageParams:
    return PageParams(page=page, limit=limit)


Pagination = Annotated[PageParams, Depends(_page_params)]


def page_body(items: list[Any], *, total: int, params: PageParams) -> dict[str, Any]:
    """The list response document."""
    return {"data": items, "meta": {"total": total, "page": params.page, "limit": params.limit}}


def page_response(items: list[Any], *, total: int, params: PageParams, **meta: Any) -> JSONResponse:
    """The list response, sent as it is (routes declare `response_model=Page[...]` for the schema)."""
    body = page_body(items, total=total, params=params)
    body["meta"].update(meta)
    return JSONResponse(body)
