"""Ingest (POST /v1/readings), history with downsampling (GET /v1/sensors/{id}/readings), retention."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Any

from fastapi import Query, Request, Response
from fastapi.responses import JSONResponse
from hearth_kit.api import api_router, problems
from hearth_kit.calls import Call, Reader, Writer, with_roles
from hearth_kit.errors import InvalidInput
from hearth_kit.problems import problem_response

from hearth_telemetry import history, ingest
from hearth_telemetry.api.common import SensorId
from hearth_telemetry.domain import MAX_BATCH, Aggregate, Interval
from hearth_telemetry.models import IngestDoc, RetentionDoc, RetentionIn, SeriesDoc
from hearth_telemetry.runtime import TelemetryDeps

router = api_router(prefix="/v1", tags=["readings"])

_READING_SCHEMA = {
    "type": "object",
    "required": ["ts", "value"],
    "properties": {
        "sensor_id": {"type": "string", "description": "Sensor id, sen_... (or external_id)"},
        "external_id": {"type": "string", "description": "The device's own id"},
        "ts": {"type": "string", "format": "date-time", "description": "RFC 3339 with offset (or epoch ms)"},
        "value": {"type": "number", "description": "The measurement (true/false for binary kinds)"},
    },
}
_BATCH_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {
        "type": "object", "required": ["readings"], "additionalProperties": False,
        "properties": {"readings": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH, "items": _READING_SCHEMA}},
    }}},
}


@router.post("/readings", status_code=202, response_model=IngestDoc, operation_id="ingestReadings",
             openapi_extra={"requestBody": _BATCH_BODY}, responses=problems(400, 422, 503))
async def ingest_readings(request: Request, call: Writer, runtime: TelemetryDeps) -> JSONResponse:
    """Accept up to 10,000 readings; invalid items are reported by index, valid ones are durably queued
    (on Kafka, acks=all) before the 202."""
    raw = await request.body()
    keep = await call.read(lambda tx: history.retention(tx, runtime.settings))
    try:
        result = await ingest.ingest(runtime, org_id=call.principal.org_id, raw=raw,
                                     oldest_days=keep["raw_retention_days"])
    except ingest.ReadingsUnavailable as exc:
        return problem_response(request, status=503, detail=str(exc), slug="unavailable",
                                headers={"Retry-After": "1"})
    return JSONResponse({"data": result}, status_code=202)


@router.get("/sensors/{sensor_id}/readings", response_model=SeriesDoc, operation_id="getSensorReadings",
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}})
async def sensor_readings(
    sensor_id: SensorId, call: Reader, runtime: TelemetryDeps, request: Request,
    start: Annotated[datetime | None, Query(alias="from", description="Start (inclusive), RFC 3339")] = None,
    end: Annotated[datetime | None, Query(alias="to", description="End (exclusive), RFC 3339")] = None,
    interval: Interval = "raw",
    agg: Aggregate = "avg",
    limit: Annotated[int, Query(ge=1, le=10_000, description="raw only: points per page")] = 1000,
    cursor: Annotated[datetime | None, Query(description="raw only: meta.next_cursor of the previous page")] = None,
) -> Any:
    """A sensor's readings: raw (paged by cursor) or bucketed (`ts` = bucket start, `value` = aggregate).
    Ask with `Accept: text/csv` for CSV."""
    for value in (start, end, cursor):
        if value is not None and (value.year < 1971 or value.year > 9000):
            raise InvalidInput("timestamps must be between 1971 and 9000")
    points, meta = await call.read(lambda tx: history.series(
        tx, runtime.settings, sensor_id=sensor_id, start=start, end=end, interval=interval, agg=agg, limit=limit,
        cursor=cursor))
    if "text/csv" in request.headers.get("accept", ""):
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["ts", "value"])
        for p in points:
            writer.writerow([p["ts"].isoformat(), "" if p["value"] is None else repr(p["value"])])
        headers = {"X-Next-Cursor": meta["next_cursor"]} if meta["next_cursor"] else None
        return Response(out.getvalue(), media_type="text/csv", headers=headers)
    return {"data": points, "meta": meta}


@router.get("/readings/retention", response_model=RetentionDoc, operation_id="getRetention")
async def get_retention(call: Reader, runtime: TelemetryDeps) -> JSONResponse:
    """How long the org's raw readings and minute rollups are kept."""
    return JSONResponse({"data": await call.read(lambda tx: history.retention(tx, runtime.settings))})


@router.put("/readings/retention", response_model=RetentionDoc, operation_id="setRetention")
async def set_retention(body: RetentionIn,
                        call: Annotated[Call, with_roles("admin", "manager")]) -> JSONResponse:
    """Set how long the org's raw readings and rollups are kept (admins and managers)."""
    return JSONResponse({"data": await call.write(lambda tx: history.set_retention(
        tx, raw_days=body.raw_retention_days, rollup_days=body.rollup_retention_days))})
