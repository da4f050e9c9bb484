"""RFC 9457 problem details: every error leaves a service as `application/problem+json`."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hearth_kit.errors import DomainError, status_of
from hearth_kit.logging import get_logger

log = get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://hearth.dev/problems/"

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class Problem(Exception):
    """Raise to answer with a problem document; `slug` becomes the problem `type` URI."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        title: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug or _TITLES.get(status, "error").lower().replace(" ", "-")
        self.title = title or _TITLES.get(status, "Error")
        self.errors = errors
        self.headers = headers
        self.extra = extra


def not_found(kind: str, ident: str) -> Problem:
    """The 404 for a missing (or another org's) resource."""
    return Problem(404, f"{kind} {ident} not found", slug="not-found")


def problem_response(
    request: Request | None,
    *,
    status: int,
    detail: str,
    slug: str | None = None,
    title: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """Build a problem+json response."""
    body: dict[str, Any] = {
        "type": TYPE_BASE + (slug or _TITLES.get(status, "error").lower().replace(" ", "-")),
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if request is not None:
        body["instance"] = request.url.path
        rid = getattr(request.state, "request_id", None)
        if rid:
            body["request_id"] = rid
    if errors:
        body["errors"] = errors
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body",)]
        if err.get("type") == "json_invalid":  # loc holds a character offset, not a field
            loc = []
        item: dict[str, Any] = {
            "field": ".".join(loc) or "body",
            "message": err.get("msg", "invalid"),
            "code": err.get("type", "invalid"),
        }
        ctx = err.get("ctx") or {}
        if "expected" in ctx:  # enum / literal errors list what is allowed
            item["allowed"] = [s.strip().strip("'") for s in str(ctx["expected"]).replace(" or ", ",").split(",")]
        out.append(item)
    return out


def install_problem_handlers(app: FastAPI) -> None:
    """Map every error path (ours, FastAPI's, Starlette's, unexpected) to problem+json."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            request, status=exc.status, detail=exc.detail, slug=exc.slug, title=exc.title,
            errors=exc.errors, headers=exc.headers, **exc.extra,
        )

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        status = status_of(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return problem_response(request, status=status, detail=exc.detail, slug=exc.code, title=exc.title,
                                errors=exc.errors, headers=headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _field_errors(exc)
        if any(e["code"] == "json_invalid" for e in errors):
            return problem_response(request, status=400, detail="Request body is not valid JSON", slug="malformed-json",
                                    errors=errors)
        fields = ", ".join(e["field"] for e in errors)
        return problem_response(request, status=422, detail=f"Invalid fields: {fields}", slug="validation-error",
                                errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(request, status=exc.status_code, detail=str(exc.detail),
                                headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", path=request.url.path)
        return problem_response(request, status=500, detail="An unexpected error occurred; it has been logged")
