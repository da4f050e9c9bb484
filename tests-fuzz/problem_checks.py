"""Schemathesis hooks for the fuzz stage: every error answer is an RFC 9457 problem document.

Loaded through `SCHEMATHESIS_HOOKS=problem_checks` (run.py sets it). The built-in `not_a_server_error`
check fails the run on any 5xx; this one holds 4xx answers to the platform's error convention.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis

PROBLEM_JSON = "application/problem+json"


@schemathesis.check
def problem_json_errors(ctx: Any, response: Any, case: Any) -> bool | None:
    """A 4xx/5xx answer is `application/problem+json` with `type`, `title` and a matching `status`."""
    status = int(response.status_code)
    if status < 400:
        return None
    content_type = (response.headers.get("content-type") or [""])[0].split(";")[0].strip()
    if content_type != PROBLEM_JSON:
        raise AssertionError(f"{status} answered with Content-Type {content_type!r}, not {PROBLEM_JSON}")
    if case.method.upper() == "HEAD":  # no body to look at
        return True
    try:
        body = json.loads(response.content)
    except ValueError as exc:
        raise AssertionError(f"{status} problem body is not JSON: {exc}") from exc
    if not isinstance(body, dict) or not {"type", "title", "status"} <= body.keys():
        raise AssertionError(f"{status} problem body lacks type/title/status: {str(body)[:200]}")
    if body["status"] != status:
        raise AssertionError(f"problem body says status {body['status']} but the answer is {status}")
    return True
