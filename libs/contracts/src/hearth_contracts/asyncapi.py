"""Generate the AsyncAPI 3.0 document of every Hearth topic and event from the contract registry.

`python -m hearth_contracts.asyncapi > libs/contracts/asyncapi.json` (a test checks it is current).
"""

from __future__ import annotations

import json
from typing import Any

from hearth_contracts.registry import all_contracts
from hearth_contracts.topics import ALL_TOPICS

_ENVELOPE_ATTRIBUTES: dict[str, Any] = {
    "specversion": {"const": "1.0"},
    "id": {"type": "string", "description": "Unique event id, evt_..."},
    "source": {"type": "string", "description": "hearth/<service>"},
    "type": {"type": "string"},
    "subject": {"type": "string", "description": "Aggregate id; also the Kafka key"},
    "time": {"type": "string", "format": "date-time"},
    "datacontenttype": {"const": "application/json"},
    "orgid": {"type": "string", "description": "Owning org"},
    "sequence": {"type": "string", "description": "Per-aggregate, increasing"},
    "traceparent": {"type": "string", "description": "W3C trace context"},
}


def _message_name(event_type: str) -> str:
    return event_type.removeprefix("hearth.").replace(".", "_")


def build() -> dict[str, Any]:
    """The AsyncAPI document."""
    contracts = all_contracts()
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {t.name: {"address": t.name, "messages": {}} for t in ALL_TOPICS}
    for event_type, model in contracts.items():
        name = _message_name(event_type)
        messages[name] = {
            "name": event_type,
            "title": model.__name__,
            "summary": (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else "",
            "contentType": "application/cloudevents+json",
            "payload": {
                "type": "object",
                "required": ["specversion", "id", "source", "type", "subject", "time", "orgid", "data"],
                "properties": {**_ENVELOPE_ATTRIBUTES, "type": {"const": event_type},
                               "data": model.model_json_schema()},
            },
        }
        channels[model.topic]["messages"][name] = {"$ref": f"#/components/messages/{name}"}
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Hearth events", "version": "1.0.0",
                 "description": (
                     "CloudEvents 1.0 (structured JSON) on Kafka; key = aggregate id. Delivery is at-least-once"
                     " on the wire: producers publish through a transactional outbox and delete rows only after"
                     " Kafka acked them (acks=all), so a crash between the ack and that commit re-sends at most"
                     " one chunk of 100 events, with the same event id. Effects are exactly-once: consumers"
                     " record each event id in an inbox in the same transaction as the effect and skip ids they"
                     " have seen. Per-key order holds; `sequence` increases per aggregate, so a consumer can"
                     " also tell a stale event from a new one.")},
        "channels": channels,
        "components": {"messages": messages},
    }


def render() -> str:
    """The document as stable, pretty JSON."""
    return json.dumps(build(), indent=2, sort_keys=True, default=str) + "\n"


if __name__ == "__main__":
    print(render(), end="")
