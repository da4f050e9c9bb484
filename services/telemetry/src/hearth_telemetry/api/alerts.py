"""Alert rule and alert routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Query, Response
from fastapi.responses import JSONResponse
from hearth_contracts.telemetry import AlertSeverity
from hearth_kit.api import Data, Page, api_router, problems
from hearth_kit.calls import Reader, Writer
from hearth_kit.errors import InvalidInput
from hearth_kit.pagination import Pagination, page_response

from hearth_telemetry import service
from hearth_telemetry.api.common import AlertId, RuleId
from hearth_telemetry.models import BUILDING_ID, SENSOR_ID, AlertOut, AlertRuleIn, AlertRuleOut, AlertRulePatch
from hearth_telemetry.runtime import TelemetryDeps

router = api_router(prefix="/v1", tags=["alerts"])


@router.post("/alert-rules", status_code=201, response_model=Data[AlertRuleOut])
async def create_alert_rule(body: AlertRuleIn, call: Writer, runtime: TelemetryDeps) -> JSONResponse:
    """A rule for one sensor, or for every sensor of a kind (optionally in one building); send an
    `Idempotency-Key` to make retries safe."""
    settings = runtime.settings
    return await call.create_once(body, lambda tx: service.create_rule(tx, settings, body), resource=service.RULE)


@router.get("/alert-rules", response_model=Page[AlertRuleOut])
async def list_alert_rules(call: Reader, page: Pagination) -> JSONResponse:
    """The org's alert rules (the default water-leak rule included)."""
    items, total = await call.read(lambda tx: service.list_rules(tx, page=page))
    return page_response(items, total=total, params=page)


@router.get("/alert-rules/{rule_id}", response_model=Data[AlertRuleOut])
async def get_alert_rule(rule_id: RuleId, call: Reader) -> JSONResponse:
    """One alert rule (with its ETag)."""
    return await call.get(service.RULE, rule_id)


@router.patch("/alert-rules/{rule_id}", response_model=Data[AlertRuleOut])
async def update_alert_rule(rule_id: RuleId, body: AlertRulePatch, call: Writer) -> JSONResponse:
    """Change a rule's condition, thresholds, duration, severity or whether it is enabled (If-Match honoured)."""
    return await call.update(service.RULE, rule_id, body)


@router.delete("/alert-rules/{rule_id}", status_code=204, responses=problems(409))
async def delete_alert_rule(rule_id: RuleId, call: Writer) -> Response:
    """Delete a rule (its open episodes stay as they are; the default rule can only be disabled)."""
    return await call.delete(service.RULE, rule_id, service.remove_rule)


@router.get("/alerts", response_model=Page[AlertOut])
async def list_alerts(
    call: Reader, page: Pagination,
    sensor_id: Annotated[str | None, Query(pattern=SENSOR_ID)] = None,
    building_id: Annotated[str | None, Query(pattern=BUILDING_ID)] = None,
    state: Annotated[str | None, Query(pattern="^(raised|cleared)$")] = None,
    severity: AlertSeverity | None = None,
    since: Annotated[datetime | None, Query(description="Raised or cleared at or after (RFC 3339)")] = None,
) -> JSONResponse:
    """Raised and cleared alerts, newest first."""
    if since is not None and (since.tzinfo is None or not 1971 <= since.year <= 9000):
        raise InvalidInput("`since` needs a time zone offset and a year between 1971 and 9000",
                           errors=[{"field": "since", "message": "RFC 3339 with offset, 1971..9000",
                                    "code": "invalid"}])
    items, total = await call.read(lambda tx: service.list_alerts(
        tx, page=page, sensor_id=sensor_id, building_id=building_id, state=state, severity=severity, since=since))
    return page_response(items, total=total, params=page)


@router.get("/alerts/{alert_id}", response_model=Data[AlertOut])
async def get_alert(alert_id: AlertId, call: Reader) -> JSONResponse:
    """One alert episode."""
    return await call.get(service.ALERT, alert_id)

