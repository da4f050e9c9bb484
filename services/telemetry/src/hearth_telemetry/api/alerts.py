"""Alert rule and alert routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Query, Response
from hearth_contracts.telemetry import AlertSeverity
from hearth_kit.api import api_router, problems
from hearth_kit.auth import CurrentPrincipal
from hearth_kit.pagination import Pagination, page_body
from hearth_kit.problems import Problem
from hearth_kit.runtime import Deps

from hearth_telemetry import service
from hearth_telemetry.api.common import WRITE_PROBLEMS, AlertId, RuleId
from hearth_telemetry.models import (
    BUILDING_ID,
    SENSOR_ID,
    AlertDoc,
    AlertPage,
    AlertRuleDoc,
    AlertRuleIn,
    AlertRulePage,
    AlertRulePatch,
)

router = api_router(prefix="/v1", tags=["alerts"])


@router.post("/alert-rules", status_code=201, response_model=AlertRuleDoc,
             operation_id="createAlertRule", responses=WRITE_PROBLEMS)
async def create_rule(body: AlertRuleIn, principal: CurrentPrincipal, deps: Deps) -> dict[str, Any]:
    """A rule for one sensor, or for every sensor of a kind (optionally in one building)."""
    return {"data": await service.create_rule(deps.db, principal=principal, body=body)}


@router.get("/alert-rules", response_model=AlertRulePage, operation_id="listAlertRules", responses=problems(422))
async def list_rules(principal: CurrentPrincipal, deps: Deps, page: Pagination) -> dict[str, Any]:
    """The org's alert rules (the default water-leak rule included)."""
    items, total = await service.list_rules(deps.db, principal=principal, page=page)
    return page_body(items, total=total, params=page)


@router.get("/alert-rules/{rule_id}", response_model=AlertRuleDoc, operation_id="getAlertRule")
async def get_rule(rule_id: RuleId, principal: CurrentPrincipal, deps: Deps) -> dict[str, Any]:
    """One alert rule."""
    return {"data": await service.get_rule(deps.db, principal=principal, rule_id=rule_id)}


@router.patch("/alert-rules/{rule_id}", response_model=AlertRuleDoc,
             operation_id="updateAlertRule", responses=WRITE_PROBLEMS)
async def update_rule(rule_id: RuleId, body: AlertRulePatch, principal: CurrentPrincipal,
                      deps: Deps) -> dict[str, Any]:
    """Change a rule's condition, thresholds, duration, severity or whether it is enabled."""
    return {"data": await service.update_rule(deps.db, principal=principal, rule_id=rule_id, body=body)}


@router.delete("/alert-rules/{rule_id}", status_code=204, operation_id="deleteAlertRule", response_class=Response,
               responses=problems(403, 409))
async def delete_rule(rule_id: RuleId, principal: CurrentPrincipal, deps: Deps) -> Response:
    """Delete a rule (its open episodes stay as they are)."""
    await service.delete_rule(deps.db, principal=principal, rule_id=rule_id)
    return Response(status_code=204)


@router.get("/alerts", response_model=AlertPage, operation_id="listAlerts")
async def list_alerts(
    principal: CurrentPrincipal, deps: Deps, page: Pagination,
    sensor_id: Annotated[str | None, Query(pattern=SENSOR_ID)] = None,
    building_id: Annotated[str | None, Query(pattern=BUILDING_ID)] = None,
    state: Annotated[str | None, Query(pattern="^(raised|cleared)$")] = None,
    severity: AlertSeverity | None = None,
    since: Annotated[datetime | None, Query(description="Raised or cleared at or after (RFC 3339)")] = None,
) -> dict[str, Any]:
    """Raised and cleared alerts, newest first."""
    if since is not None and (since.tzinfo is None or not 1971 <= since.year <= 9000):
        raise Problem(422, "`since` needs a time zone offset and a year between 1971 and 9000",
                      slug="validation-error")
    items, total = await service.list_alerts(deps.db, principal=principal, page=page, sensor_id=sensor_id,
                                             building_id=building_id, state=state, severity=severity, since=since)
    return page_body(items, total=total, params=page)


@router.get("/alerts/{alert_id}", response_model=AlertDoc, operation_id="getAlert")
async def get_alert(alert_id: AlertId, principal: CurrentPrincipal, deps: Deps) -> dict[str, Any]:
    """One alert episode."""
    return {"data": await service.get_alert(deps.db, principal=principal, alert_id=alert_id)}
