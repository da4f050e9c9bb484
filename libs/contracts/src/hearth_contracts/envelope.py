"""The CloudEvents 1.0 envelope every Hearth event travels in (structured JSON mode)."""

from __future__ import annotations

import builtins
import json
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from pydantic import BaseModel, ConfigDict

DATACONTENTTYPE = "application/json"
# Kafka binding, structured mode: every record says it carries a whole CloudEvent as JSON.
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
KAFKA_HEADERS: tuple[tuple[str, bytes], ...] = (("content-type", STRUCTURED_CONTENT_TYPE.encode()),)
# The Sequence extension compares values as strings: zero-padded to the width of the largest bigint.
SEQUENCE_WIDTH = 20


def format_sequence(sequence: int) -> str:
    """A per-aggregate sequence number as the extension wants it: a string that sorts like the number."""
    return str(sequence).zfill(SEQUENCE_WIDTH)
_FORMAT = JSONFormat()


class EventData(BaseModel):
    """Base of every event's `data`: a versioned, additive contract identified by `event_type`."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    # e.g. "hearth.building.created.v1"; set by each concrete contract.
    event_type: ClassVar[str]
    # the topic the event is published on, e.g. "property.events"
    topic: ClassVar[str]


_E = TypeVar("_E", bound=EventData)


class Envelope(BaseModel):
    """A parsed CloudEvent: attributes plus the raw `data` dict (validate it with `data_as`)."""

    model_config = ConfigDict(frozen=True)

    id: str
    source: str
    type: str
    subject: str
    time: datetime
    orgid: str
    sequence: int  # sent zero-padded (sorts as a string); read back as the number
    data: dict[str, Any]
    traceparent: str | None = None
    specversion: str = "1.0"
    datacontenttype: str = DATACONTENTTYPE

    def data_as(self, model: builtins.type[_E]) -> _E:
        """Validate `data` against one contract model."""
        return model.model_validate(self.data)


def to_cloudevent_bytes(
    *,
    event_id: str,
    source: str,
    data: EventData,
    subject: str,
    org_id: str,
    sequence: int,
    time: datetime | None = None,
    traceparent: str | None = None,
) -> bytes:
    """Serialise one event as a structured-mode CloudEvent (validated by the CloudEvents SDK)."""
    attributes: dict[str, Any] = {
        "id": event_id,
        "source": source,
        "type": data.event_type,
        "subject": subject,
        "time": time or datetime.now(UTC),
        "datacontenttype": DATACONTENTTYPE,
        "orgid": org_id,
        "sequence": format_sequence(sequence),
    }
    if traceparent:
        attributes["traceparent"] = traceparent
    payload = json.loads(data.model_dump_json())
    return _FORMAT.write(CloudEvent(attributes, payload))


def parse_cloudevent(raw: bytes | str) -> Envelope:
    """Parse and validate a structured-mode CloudEvent; raises ValueError on anything malformed."""
    try:
        event = _FORMAT.read(CloudEvent, raw)
    except Exception as exc:  # the SDK raises several unrelated types for bad input
        raise ValueError(f"not a valid CloudEvent: {exc}") from exc
    attrs = event.get_attributes()
    data = event.get_data()
    if isinstance(data, bytes | str):
        data = json.loads(data)
    return Envelope.model_validate({**attrs, "data": data or {}})
