"""Domain errors: what a rule says went wrong, in the words of the domain, with no HTTP in it.

Use cases and domain rules raise these; the API layer (`hearth_kit.problems`) maps each kind to its
status and answers `application/problem+json`. `code` becomes the problem `type` slug, `errors` lists
field-level reasons, and `extra` members are added to the problem document as they are (e.g.
`unknown_ids`), so clients can act on them.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every domain error; `code` is a short kebab-case name of what went wrong."""

    code = "error"

    def __init__(self, detail: str, *, code: str | None = None, errors: list[dict[str, Any]] | None = None,
                 title: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.title = title  # the problem's title; default: the HTTP status phrase
        if code is not None:
            self.code = code
        self.errors = errors
        self.extra = extra


class InvalidInput(DomainError):
    """The request is well-formed but breaks a rule (→ 422)."""

    code = "validation-error"


class BadRequest(DomainError):
    """The request contradicts itself (→ 400), e.g. a range whose minimum exceeds its maximum."""

    code = "bad-request"


class NotFound(DomainError):
    """No such thing in the caller's org (→ 404); another org's record is indistinguishable from none."""

    code = "not-found"

    @classmethod
    def of(cls, kind: str, ident: str, *, field: str | None = None) -> NotFound:
        """`<kind> <id> not found`, optionally naming the request field that referred to it."""
        detail = f"{kind} {ident} not found"
        return cls(detail, errors=[{"field": field, "message": detail}] if field else None)


class Conflict(DomainError):
    """The change clashes with the current state (→ 409)."""

    code = "conflict"


class Forbidden(DomainError):
    """The caller may not do this (→ 403)."""

    code = "forbidden"


class Unauthenticated(DomainError):
    """The caller's credential does not prove who they are (→ 401)."""

    code = "unauthorized"


class PreconditionFailed(DomainError):
    """The caller's `If-Match` names another version than the current one (→ 412)."""

    code = "precondition-failed"


# The one table from domain error to HTTP status (most specific class first).
STATUS_OF: tuple[tuple[type[DomainError], int], ...] = (
    (BadRequest, 400),
    (Unauthenticated, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (PreconditionFailed, 412),
    (InvalidInput, 422),
)


def status_of(error: DomainError) -> int:
    """The HTTP status a domain error answers with (422 for a kind not in the table)."""
    for kind, status in STATUS_OF:
        if isinstance(error, kind):
            return status
    return 422
