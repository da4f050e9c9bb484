"""HTTP and WebSocket routes of the telemetry service: parse, call a use case, shape the response."""

from fastapi import APIRouter

from hearth_telemetry.api import alerts, readings, sensors, stream

router = APIRouter()
router.include_router(stream.router)
router.include_router(sensors.router)
router.include_router(readings.router)
router.include_router(alerts.router)

__all__ = ["router"]
