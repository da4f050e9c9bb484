"""Kafka topic names and their partition counts: the one place a topic is declared."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    """A topic and how many partitions it is created with."""

    name: str
    partitions: int = 6


AUTH_EVENTS = Topic("auth.events")
PROPERTY_EVENTS = Topic("property.events")
MAINTENANCE_EVENTS = Topic("maintenance.events")
ACCESS_EVENTS = Topic("access.events")
ACCESS_COMMANDS = Topic("access.commands")
TELEMETRY_READINGS = Topic("telemetry.readings", partitions=12)
TELEMETRY_ALERTS = Topic("telemetry.alerts")
# Telemetry's lifecycle facts (sensors, alert rules); readings and alerts keep their own topics.
TELEMETRY_EVENTS = Topic("telemetry.events")
BILLING_EVENTS = Topic("billing.events")
WEBHOOKS_EVENTS = Topic("webhooks.events")

ALL_TOPICS: tuple[Topic, ...] = (
    AUTH_EVENTS,
    PROPERTY_EVENTS,
    MAINTENANCE_EVENTS,
    ACCESS_EVENTS,
    ACCESS_COMMANDS,
    TELEMETRY_READINGS,
    TELEMETRY_ALERTS,
    TELEMETRY_EVENTS,
    BILLING_EVENTS,
    WEBHOOKS_EVENTS,
)

# A consumer parks a record it cannot handle on `<topic>.dlt` (one partition; see hearth_kit.messaging).
DEAD_LETTER_SUFFIX = ".dlt"
