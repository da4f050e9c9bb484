"""Pure rules: the lifecycle table, action names, who may move what, SLA deadlines, event mapping, input shapes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hearth_kit.auth import Principal
from hearth_kit.errors import Conflict, Forbidden, status_of
from hearth_maintenance.domain import (
    ACTION_TARGET,
    LIFECYCLE,
    STATUSES,
    CommentIn,
    RequestIn,
    RequestPatch,
    SettingsIn,
    actor_of,
    alert_request,
    allowed_next,
    check_action,
    check_may_move,
    check_transition,
    due_at,
    is_overdue,
    narrowed_to,
)
from pydantic import ValidationError

LEGAL = {("new", "assigned"), ("new", "canceled"), ("assigned", "in_progress"), ("assigned", "new"),
         ("assigned", "canceled"), ("in_progress", "on_hold"), ("in_progress", "done"), ("in_progress", "canceled"),
         ("on_hold", "in_progress"), ("on_hold", "canceled"), ("done", "new")}


@pytest.mark.parametrize("current", STATUSES)
@pytest.mark.parametrize("target", STATUSES)
def test_lifecycle_table(current: str, target: str) -> None:
    if (current, target) in LEGAL:
        check_transition(current, target)
        return
    with pytest.raises(Conflict) as err:
        check_transition(current, target)
    assert status_of(err.value) == 409
    assert err.value.extra["allowed_next"] == allowed_next(current) == sorted(
        LIFECYCLE[current], key=STATUSES.index)


def test_canceled_is_terminal() -> None:
    assert allowed_next("canceled") == []


@pytest.mark.parametrize(("action", "current", "legal"), [
    ("reopen", "done", True), ("reopen", "assigned", False), ("unassign", "assigned", True),
    ("unassign", "done", False), ("start", "assigned", True), ("resume", "on_hold", True),
    ("start", "new", False), ("complete", "on_hold", False), ("cancel", "canceled", False),
])
def test_action_names(action: str, current: str, legal: bool) -> None:
    assert action in ACTION_TARGET
    if legal:
        check_action(action, current)
    else:
        with pytest.raises(Conflict):
            check_action(action, current)


def p(role: str, member: str | None = None) -> Principal:
    return Principal(org_id="org_x", subject="key_x", role=role, member_id=member)


@pytest.mark.parametrize(("role", "target", "allowed"), [
    ("admin", "canceled", True), ("manager", "assigned", True), ("technician", "in_progress", True),
    ("technician", "done", True), ("technician", "canceled", False), ("technician", "assigned", False),
    ("leasing_agent", "in_progress", False), ("partner", "done", False), ("accountant", "canceled", False),
])
def test_who_may_move(role: str, target: str, allowed: bool) -> None:
    if allowed:
        check_may_move(p(role), target)
    else:
        with pytest.raises(Forbidden):
            check_may_move(p(role), target)


def test_technician_view_and_actor() -> None:
    assert narrowed_to(p("technician", "mem_1")) == (True, "mem_1")
    assert narrowed_to(p("technician")) == (True, None)
    assert narrowed_to(p("manager", "mem_2")) == (False, None)
    assert actor_of(p("manager", "mem_2")) == "mem_2" and actor_of(p("manager")) == "key_x"


@pytest.mark.parametrize(("priority", "hours"), [("emergency", 4), ("high", 24), ("normal", 72), ("low", 168)])
def test_due_at_defaults(priority: str, hours: int) -> None:
    t = datetime(2030, 1, 1, tzinfo=UTC)
    assert due_at(t, priority, {}) == t + timedelta(hours=hours)
    assert due_at(t, priority, {priority: 1}) == t + timedelta(hours=1)


def test_overdue_only_when_open_and_past() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    past = now - timedelta(seconds=1)
    assert is_overdue("in_progress", past, now) and is_overdue("on_hold", past, now)
    assert not is_overdue("done", past, now) and not is_overdue("canceled", past, now)
    assert not is_overdue("new", now + timedelta(seconds=1), now)


@pytest.mark.parametrize(("kind", "severity", "expected"), [
    ("water_leak", "info", ("plumbing", "emergency")), ("temperature", "critical", ("hvac", "high")),
    ("energy", "warning", ("electrical", "normal")), ("smoke", "info", ("general", "low")),
])
def test_alert_mapping(kind: str, severity: str, expected: tuple[str, str]) -> None:
    assert alert_request(kind, severity) == expected


BASE = {"building_id": "bld_01", "title": "Tap"}


@pytest.mark.parametrize("over", [
    {"category": "roofing"}, {"priority": "urgent"}, {"attachments": ["mailto:a@b.c"]}, {"title": "a\x00b"},
    {"scheduled_window": {"start": "2030-01-01T10:00:00Z", "end": "2030-01-01T09:00:00Z"}},
    {"building_id": "unit_01"}, {"assignee_id": "key_01"}, {"extra": 1},
])
def test_bad_request_bodies(over: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        RequestIn.model_validate({**BASE, **over})


def test_good_request_body_and_patch_nulls() -> None:
    body = RequestIn.model_validate({**BASE, "attachments": ["https://x.example/a.png"]})
    assert body.priority == "normal" and body.category == "general"
    with pytest.raises(ValidationError):
        RequestPatch.model_validate({"priority": None})
    assert RequestPatch.model_validate({"assignee_id": None}).model_fields_set == {"assignee_id"}


def test_comment_and_settings_limits() -> None:
    CommentIn(body="x" * 10_000)
    with pytest.raises(ValidationError):
        CommentIn(body="x" * 10_001)
    with pytest.raises(ValidationError):
        SettingsIn.model_validate({"sla_hours": {"emergency": 0, "high": 1, "normal": 1, "low": 1}})
